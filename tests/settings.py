"""Test settings: fast hashing, a file test database (shared with workers), a test broker."""

import os
from pathlib import Path

_VAR = Path(__file__).resolve().parent.parent / "var"
# Per test run (pid), so parallel runs on one machine do not share a broker or a database file;
# a worker started by the tests inherits the folder through the environment.
os.environ.setdefault("CELERY_BROKER_FOLDER", str(_VAR / f"test-broker-{os.getpid()}"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from config.settings import *  # noqa: E402, F403
from config.settings import DATABASES, STORAGES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a Celery worker process can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

# Tests read messages in English; tests/core/test_i18n.py checks the Chinese default itself.
LANGUAGE_CODE = "en"

# One process's memory: tests run tasks eagerly, in the process that reads the cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
