"""Shared fixtures: personas for access tests and a real Celery worker process."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from core import roles
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def empty_cache():
    """Start every test with an empty cache (dashboard blocks stay cached until refreshed)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def test_logins_pass_the_second_step(monkeypatch):
    """Let the test client's ``login``/``force_login`` of a superuser or consent admin count as
    having passed the two-step sign-in (django-otp), as their tests are about something else.

    Tests of the two-step sign-in itself log in through the login page.
    """
    from django.test.client import ClientMixin
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    original = ClientMixin._login

    def login_verified(self, user, backend=None):
        original(self, user, backend)
        if roles.user_is_privileged(user):
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if device is None:
                device = TOTPDevice.objects.create(user=user, name="tests", confirmed=True)
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    monkeypatch.setattr(ClientMixin, "_login", login_verified)


@pytest.fixture
def uploads_root(settings, tmp_path):
    """Keep uploads in a folder of this test (standing in for object storage); return it."""
    root = tmp_path / "object-storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def connection_kept_across_requests():
    """Keep the test's connection open when a WSGI application is called directly.

    Django closes old connections at each request's start and end; its test client turns
    that off, and so does this for tests that call ``config.wsgi.application`` themselves.
    """
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def webhook_receiver():
    """Return a factory: ``webhook_receiver(secret, script=[500, 200])`` starts a receiver of
    signed webhooks on loopback (``tests.campaigns.webhook_receiver``)."""
    from tests.campaigns.webhook_receiver import WebhookReceiver

    made = []

    def make(secret: str, script=()) -> WebhookReceiver:
        made.append(WebhookReceiver(secret=secret, script=list(script)).start())
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def ops_user(db):
    return UserFactory(username="olivia-ops", roles=[roles.OPS])


@pytest.fixture
def campaign_manager(db):
    return UserFactory(username="carl-campaigns", roles=[roles.CAMPAIGN_MANAGER])


@pytest.fixture
def consent_admin(db):
    return UserFactory(username="cora-consent", roles=[roles.CONSENT_ADMIN])


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar-outsider")


@pytest.fixture
def ops_client(client, ops_user):
    client.force_login(ops_user)
    return client


def database_url() -> str:
    """Return a DATABASE_URL naming the database this test process is using."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"gave up after {timeout:.0f}s waiting for {predicate.__doc__ or predicate}")


def worker_start(log_path: Path, *, cwd: Path = ROOT, env: dict | None = None):
    """Start a `celery worker` process on the configured broker and this test database.

    ``cwd`` and ``env`` (added to this process's environment) let it stand for a worker on
    another machine, e.g. with a working directory and ``VAR_DIR`` of its own.
    """
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=cwd,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process.log_path = log_path
    return process


def worker_stop(process) -> None:
    """Stop a worker started by ``worker_start``; print its log's end if it failed."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.returncode not in (0, -15):
        print(process.log_path.read_text(errors="replace")[-4000:])


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """Start a real `celery worker` process on the configured broker and this test database."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(settings.CELERY_BROKER_FOLDER, ignore_errors=True)
    process = worker_start(tmp_path / "worker.log")
    try:
        yield process
    finally:
        worker_stop(process)


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's file-system broker folder."""
    if getattr(settings, "CELERY_BROKER_URL", "").startswith("filesystem://"):
        shutil.rmtree(settings.CELERY_BROKER_FOLDER, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def compiled_translations():
    """Compile the .po files when a .mo is missing or older, so `pytest` alone sees them."""
    for po in (ROOT / "locale").glob("*/LC_MESSAGES/django.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            from django.core.management import call_command

            call_command("compilemessages", locale=[po.parent.parent.name], verbosity=0)
            from django.utils import translation

            translation.trans_real._translations = {}
            translation.trans_real._default = None
