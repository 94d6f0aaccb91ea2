"""The production files pass .ci/production_check.py, which flags what would break production."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = ROOT / ".ci" / "production_check.py"
FILES = ("compose.yaml", "Procfile.production", "Dockerfile")


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("ci_production_check", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture
def copy(tmp_path):
    """Copy the real production files into a folder; return a function to edit one of them."""
    for name in FILES:
        shutil.copy(ROOT / name, tmp_path / name)

    def edit(name: str, old: str, new: str) -> Path:
        path = tmp_path / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1))
        return tmp_path

    return edit


def test_the_repository_files_pass(check, capsys):
    assert check.main(ROOT) == 0
    assert "in shape" in capsys.readouterr().out


def test_a_second_beat_replica_is_flagged(check, copy):
    root = copy("compose.yaml", "replicas: 1", "replicas: 2")

    assert check.compose_problems(root / "compose.yaml") == [
        "compose.yaml: beat must have deploy.replicas: 1 (exactly one beat)"
    ]


def test_a_missing_service_and_a_misspelt_key_are_flagged(check, copy):
    root = copy("compose.yaml", "  redis:\n    image: redis:7", "  cache:\n    image: redis:7")
    root = copy(
        "compose.yaml",
        '    healthcheck:\n      test: ["CMD", "pg',
        '    helthcheck:\n      test: ["CMD", "pg',
    )

    problems = check.compose_problems(root / "compose.yaml")

    assert "compose.yaml: no 'redis' service" in problems
    assert "compose.yaml: service 'postgres' has unknown key 'helthcheck'" in problems


def test_invalid_yaml_is_flagged(check, copy):
    root = copy("compose.yaml", "services:", "services: [")

    (problem,) = check.compose_problems(root / "compose.yaml")

    assert problem.startswith("compose.yaml: cannot be read as YAML")


def test_a_worker_not_waiting_for_migrations_is_flagged(check, copy):
    root = copy("compose.yaml", "    depends_on: *after-migrations\n\n  beat:", "\n  beat:")

    problems = check.compose_problems(root / "compose.yaml")

    assert problems == ["compose.yaml: service 'worker' does not wait for the migrations"]


def test_a_procfile_with_two_beats_or_no_gunicorn_is_flagged(check, copy):
    root = copy(
        "Procfile.production", "web: gunicorn config.wsgi", "web: python manage.py runserver"
    )
    with (root / "Procfile.production").open("a") as procfile:
        procfile.write("beat2: celery -A config beat\n")

    problems = check.procfile_problems(root / "Procfile.production")

    assert problems == [
        "Procfile.production: the web process must run gunicorn",
        "Procfile.production: exactly one process must run beat, named beat",
    ]


def test_a_dockerfile_installing_without_hashes_is_flagged(check, copy):
    root = copy("Dockerfile", "--require-hashes ", "")

    assert check.dockerfile_problems(root / "Dockerfile") == [
        "Dockerfile: must install requirements/runtime.txt with --require-hashes"
    ]
