"""Every environment variable the code reads has a row in a table of the README."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {".venv", ".git", "tests", "migrations", "var", "node_modules"}
# config/settings.py: env.str("X"), env.list("X"), env.db_url("X"), env_bool("X", …), env_int(…) …
SETTINGS_READ = re.compile(r"\benv\w*(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"")
# Any module: os.environ.get("X"), os.environ["X"], os.getenv("X").
ENVIRON_READ = re.compile(r"os\.(?:environ\.get\(|environ\[|getenv\()\s*[\"']([A-Z][A-Z0-9_]+)")
# Procfiles and compose.yaml: ${X}, ${X:-default}, ${X:?message}.
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]+)")


def _python_modules():
    for path in ROOT.rglob("*.py"):
        if not SKIPPED & set(path.relative_to(ROOT).parts):
            yield path


def names_read() -> dict[str, str]:
    """Return each variable the product reads, with one file that reads it."""
    found = {}
    for settings in ("settings.py", "channel_settings.py"):
        for name in SETTINGS_READ.findall((ROOT / "config" / settings).read_text()):
            found.setdefault(name, f"config/{settings}")
    for path in _python_modules():
        for name in ENVIRON_READ.findall(path.read_text(errors="replace")):
            found.setdefault(name, str(path.relative_to(ROOT)))
    for path in [*ROOT.glob("Procfile*"), ROOT / "compose.yaml"]:
        for name in SHELL_READ.findall(path.read_text()):
            found.setdefault(name, path.name)
    return found


def names_documented() -> set[str]:
    """Return the variables named in the first column of the README's tables of variables."""
    rows = [
        line.split("|")[1]
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    return {name for cell in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def test_the_scan_finds_the_reads_it_is_meant_to_find():
    read = names_read()

    assert read["CACHE_URL"] == "config/settings.py"  # env.cache_url
    assert read["CONN_MAX_AGE"] == "config/settings.py"  # env_int
    assert read["BEHIND_PROXY"] == "config/settings.py"  # env_bool
    assert read["WEB_CONCURRENCY"] == "gunicorn.conf.py"  # os.environ.get
    assert read["WORKER_CONCURRENCY"].startswith("Procfile")  # ${…:-2}
    assert "DJANGO_SETTINGS_MODULE" not in read  # set by the code, not read


def test_every_variable_read_is_in_the_readme_table():
    documented = names_documented()

    missing = {name: where for name, where in names_read().items() if name not in documented}

    assert missing == {}, f"add these to a table of README.md (Configuration): {missing}"
