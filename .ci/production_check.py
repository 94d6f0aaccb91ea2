"""Check the production files' shape without running them (CI cannot pull images).

compose.yaml: valid YAML with postgres, redis, migrate, web, worker and beat; only keys Compose
knows; the app services build the image and run after the migrations; exactly one beat and no
fixed name on the worker (it is scaled). Procfile.production: web on gunicorn, a worker and
exactly one beat. Dockerfile: installs the runtime lock with its hashes.

Usage: ``python .ci/production_check.py [ROOT]``; prints each problem and exits 1 when any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}
APP_SERVICES = {"migrate", "web", "worker", "beat"}
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {
    "build", "command", "container_name", "depends_on", "deploy", "entrypoint", "env_file",
    "environment", "expose", "healthcheck", "image", "labels", "logging", "networks", "ports",
    "pull_policy", "restart", "stop_grace_period", "user", "volumes", "working_dir",
}  # fmt: skip
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def compose_problems(path: Path) -> list[str]:
    """Return what is wrong with the compose file at ``path``."""
    try:
        compose = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path.name}: cannot be read as YAML: {exc}"]
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        return [f"{path.name}: no services mapping"]
    problems = [
        f"{path.name}: unknown top-level key {key!r}"
        for key in compose
        if key not in TOP_KEYS and not str(key).startswith("x-")
    ]
    services = compose["services"]
    problems += [f"{path.name}: no {name!r} service" for name in sorted(SERVICES - set(services))]
    for name, service in services.items():
        problems += _service_problems(path.name, name, service or {})
    problems += _app_problems(path.name, services)
    return problems


def _service_problems(filename: str, name: str, service: dict) -> list[str]:
    """Return what is wrong with any one service: unknown keys, nothing to run."""
    problems = [
        f"{filename}: service {name!r} has unknown key {key!r}"
        for key in service
        if key not in SERVICE_KEYS
    ]
    if not service.get("image") and not service.get("build"):
        problems.append(f"{filename}: service {name!r} has neither image nor build")
    return problems


def _app_problems(filename: str, services: dict) -> list[str]:
    """Return what is wrong with the services that run the product."""
    problems = []
    for name in sorted(APP_SERVICES & set(services)):
        service = services[name] or {}
        if not service.get("command"):
            problems.append(f"{filename}: service {name!r} has no command")
        if name != "migrate":
            after = (service.get("depends_on") or {}).get("migrate") or {}
            if after.get("condition") != "service_completed_successfully":
                problems.append(f"{filename}: service {name!r} does not wait for the migrations")
    beat = services.get("beat") or {}
    if (beat.get("deploy") or {}).get("replicas") != 1:
        problems.append(f"{filename}: beat must have deploy.replicas: 1 (exactly one beat)")
    if "container_name" in (services.get("worker") or {}):
        problems.append(f"{filename}: worker has a container_name, so it cannot be scaled")
    return problems


def procfile_problems(path: Path) -> list[str]:
    """Return what is wrong with the production process list at ``path``."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        return [f"{path.name}: cannot be read: {exc}"]
    processes = [m.groups() for m in map(PROCFILE_LINE.match, lines) if m]
    names = [name for name, _command in processes]
    commands = dict(processes)
    problems = []
    if not commands.get("web", "").startswith("gunicorn "):
        problems.append(f"{path.name}: the web process must run gunicorn")
    if "worker" not in commands:
        problems.append(f"{path.name}: no worker process")
    beats = [name for name, command in processes if " beat" in command]
    if names.count("beat") != 1 or beats != ["beat"]:
        problems.append(f"{path.name}: exactly one process must run beat, named beat")
    return problems


def dockerfile_problems(path: Path) -> list[str]:
    """Return what is wrong with the image's Dockerfile at ``path``."""
    try:
        text = path.read_text()
    except OSError as exc:
        return [f"{path.name}: cannot be read: {exc}"]
    if "--require-hashes -r requirements/runtime.txt" not in text:
        return [f"{path.name}: must install requirements/runtime.txt with --require-hashes"]
    return []


def main(root: Path = ROOT) -> int:
    problems = (
        compose_problems(root / "compose.yaml")
        + procfile_problems(root / "Procfile.production")
        + dockerfile_problems(root / "Dockerfile")
    )
    for problem in problems:
        print(problem)
    if not problems:
        print("production: compose.yaml, Procfile.production and Dockerfile are in shape")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
