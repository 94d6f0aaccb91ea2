"""Campaign fixtures: real SMTP servers on loopback and Celery workers that send to them."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from config.celery import app
from tests.conftest import ROOT, database_url
from tools.smtp_sink import BoundController, Recorder, SinkProcess, SmtpSink

# tests.settings keeps mail in memory (locmem); a worker that must reach an SMTP server gets the
# backend named in TEST_WORKER_EMAIL_BACKEND set on its settings before Celery starts.
WORKER_BOOT = """
import os, sys
from django.conf import settings
settings.EMAIL_BACKEND = os.environ["TEST_WORKER_EMAIL_BACKEND"]
from celery.__main__ import main
sys.argv = ["celery", *sys.argv[1:]]
main()
"""
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def tick_until(predicate, *, timeout: float = 180.0, every: float = 2.0):
    """Play beat: send the tick task through the broker every ``every`` s until ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.send_task("campaigns.tasks.campaigns_tick_task")
        step_end = time.monotonic() + every
        while time.monotonic() < step_end:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
    pytest.fail(f"gave up after {timeout:.0f}s waiting for {predicate.__doc__ or predicate}")


@pytest.fixture
def smtp_server():
    """Run an aiosmtpd server on 127.0.0.1 and a free port in this process; record every message.

    Yields an object with ``port``, ``messages`` (envelope, decoded headers, bodies) and
    ``wait_for(count, timeout)``. Processes started by the test can send to it too.
    """
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_sink_process(tmp_path):
    """Return a factory of SMTP sinks in subprocesses (``delay=`` slows each message down)."""
    started = []

    def start(**kwargs) -> SinkProcess:
        sink = SinkProcess(tmp_path / f"sink-{len(started)}.jsonl", **kwargs)
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


class Worker:
    """A `celery worker` process in its own process group, sending mail over SMTP."""

    def __init__(self, process: subprocess.Popen, log_path):
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no acknowledgement, nothing flushed."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def campaign_worker(transactional_db, tmp_path):
    """Return ``start(smtp_port, **env) -> Worker``: Celery workers on this test database.

    Like ``celery_worker_process`` (same broker, database and pool), but each worker sends
    email over SMTP to 127.0.0.1:``smtp_port``, takes extra environment (e.g.
    ``CAMPAIGN_MARK_EVERY``), runs in its own process group so a test can SIGKILL it, and
    several can be started in one test. All are stopped at the end.
    """
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(settings.CELERY_BROKER_FOLDER, ignore_errors=True)
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)
    workers: list[Worker] = []

    def start(smtp_port: int, *, concurrency: int = 1, **extra_env) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONPATH": str(ROOT),
            "TEST_WORKER_EMAIL_BACKEND": SMTP_BACKEND,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            **{key: str(value) for key, value in extra_env.items()},
        }
        pool = ["--pool=solo"] if concurrency == 1 else ["--pool=prefork", f"-c{concurrency}"]
        log_path = tmp_path / f"worker-{len(workers)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER_BOOT,
                    "-A",
                    "config",
                    "worker",
                    *pool,
                    "--loglevel=INFO",
                    "--without-mingle",
                    "--without-gossip",
                    "-n",
                    f"campaigns-{uuid.uuid4().hex[:8]}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log_path)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
        if worker.process.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
            print(worker.log()[-4000:])


class Picky(Recorder):
    """Refuse bounce@… for good (550) and busy@… for now (451), and the sender blocked@… (553);
    record the rest."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.startswith("blocked"):
            return "553 5.7.1 Sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 No such user"
        if address.startswith("busy"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture(params=[False, True], ids=["one-by-one", "pipelining"])
def picky_server(request):
    """``Picky`` on loopback; a second run of the test with a server that offers PIPELINING."""
    recorder = Picky(pipelining=request.param)
    controller = BoundController(recorder)
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp_settings(settings, picky_server):
    """Send through Django's SMTP backend to ``picky_server`` (with and without PIPELINING)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", picky_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_RATE_LIMIT_EMAIL = 0
    settings.CAMPAIGN_MARK_EVERY = 4
    settings.SITE_URL = "https://shop.example"
    return settings
