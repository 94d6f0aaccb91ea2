"""A multi-machine rehearsal on this machine: two web processes and two workers, no shared var/.

    python -m tools.rehearsal [--recipients 2000] [--rate 200]
        [--postgres postgres://postgres@127.0.0.1:5432] [--database rehearsal]
        [--redis redis://127.0.0.1:6379/15] [--keep]

Each "machine" is a folder with its own working directory and VAR_DIR; they share only what
machines share: PostgreSQL (a database of the rehearsal's own, dropped and created again), Redis
(broker, dashboard cache and send-rate slots; the given database is flushed) and a folder standing
in for object storage (the uploads storage). Each machine relays its mail to an SMTP sink of its
own, so the sinks tell which worker sent what.

1. Web 1 and web 2 run on machines 1 and 2 (gunicorn), worker 2 on machine 2, beat on machine 1.
2. A CSV of N profiles is uploaded through web 1 and imported by worker 2 (worker 1 is not
   started yet, so the import can only run in the other working directory); their consents are
   uploaded through web 2 and imported by worker 2 as a job too.
3. Worker 1 starts; a campaign to the N profiles is scheduled, beat starts it, both workers send
   it under one shared rate limit, and the sinks must hold exactly one message per recipient.

Prints its figures and ends with one JSON line; exits non-zero when a check fails.
"""

import argparse
import collections
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = secrets.token_urlsafe(16)
USER = "rehearsal"
UPLOAD_ID = re.compile(r'name="upload_id" value="([0-9a-f]{32})"')
CITIES = ["上海", "北京", "广州", "深圳", "杭州"]


class RehearsalFailed(Exception):
    """A check of the rehearsal did not hold."""


@dataclass
class Stage:
    """The rehearsal's folders, processes and figures."""

    root: Path
    args: argparse.Namespace
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def machine(self, name: str) -> Path:
        return self.root / name

    @property
    def storage(self) -> Path:
        return self.root / "object-storage"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def say(text: str) -> None:
    print(text, flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise RehearsalFailed(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- shared services --------------------------------------------------------------------------


def database_recreate(postgres: str, name: str) -> str:
    """Drop and create the rehearsal's database; return its URL."""
    import psycopg

    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres}/{name}"


def database_drop(postgres: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def machine_env(stage: Stage, name: str, database_url: str) -> dict[str, str]:
    """Return the environment of a process on machine ``name`` (production settings)."""
    machine = stage.machine(name)
    redis_url = stage.args.redis
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        "DEBUG": "false",
        "SECRET_KEY": stage.figures.setdefault("_secret", secrets.token_urlsafe(50)),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "VAR_DIR": str(machine / "var"),
        "UPLOADS_ROOT": str(stage.storage),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": f"{redis_url}?KEY_PREFIX=rehearsal",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(stage.ports.get(f"sink-{name}", 1025)),
        "CAMPAIGN_WORKERS": "2",
        "CAMPAIGN_RATE_LIMIT_EMAIL": str(stage.args.rate),
        "CAMPAIGN_FREQUENCY_CAP": "0",
        "LANGUAGE_CODE": "en",
    }


# --- processes --------------------------------------------------------------------------------


def run(stage: Stage, name: str, machine: str, *args: str) -> None:
    """Run ``manage.py`` on a machine to the end; raise with its output when it fails."""
    env = machine_env(stage, machine, stage.figures["_database_url"])
    done = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=stage.machine(machine),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    check(done.returncode == 0, f"{name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def start(stage: Stage, name: str, machine: str, *args: str) -> subprocess.Popen:
    """Start a long-running process on a machine, its output in logs/<name>.log."""
    env = machine_env(stage, machine, stage.figures["_database_url"])
    with open(stage.log(name), "wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            [sys.executable, "-m", *args],
            cwd=stage.machine(machine),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stage.processes[name] = process
    return process


def start_web(stage: Stage, name: str, machine: str) -> None:
    port = stage.ports[name] = free_port()
    start(stage, name, machine, "gunicorn", "config.wsgi:application",
          "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
          "--access-logfile", "-")  # fmt: skip


def start_worker(stage: Stage, name: str, machine: str) -> None:
    start(stage, name, machine, "celery", "-A", "config", "worker", "--concurrency=1",
          "--loglevel=INFO", "--without-mingle", "--without-gossip",
          "-n", f"{name}@{machine}")  # fmt: skip


def start_sink(stage: Stage, machine: str) -> None:
    """Start the SMTP relay of a machine: a sink recording each message as a JSON line."""
    name = f"sink-{machine}"
    port = stage.ports[name] = free_port()
    out = stage.root / "logs" / f"{name}.jsonl"
    start(stage, name, machine, "tools.smtp_sink", "--port", str(port), "--out", str(out))


def wait_until(what: str, predicate, timeout: float) -> float:
    """Poll ``predicate`` until it is true; return the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.25)
    raise RehearsalFailed(f"gave up after {timeout:.0f}s waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_has(stage: Stage, name: str, text: str) -> bool:
    return text in stage.log(name).read_text(errors="replace")


def stop_all(stage: Stage) -> None:
    for process in reversed(list(stage.processes.values())):
        if process.poll() is None:
            process.terminate()
    for process in stage.processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the web, as a user ------------------------------------------------------------------------


class Browser:
    """A logged-in user of one web process (requests with cookies and the CSRF token)."""

    def __init__(self, port: int):
        import requests

        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.session.get(f"{self.base}/accounts/login/", timeout=30)
        response = self.post("/accounts/login/", {"username": USER, "password": PASSWORD})
        check(response.status_code == 302, f"login on {self.base} answered {response.status_code}")

    def post(self, path: str, data: dict, files: dict | None = None):
        token = self.session.cookies.get("csrftoken", "")
        return self.session.post(
            f"{self.base}{path}",
            data={**data, "csrfmiddlewaretoken": token},
            files=files,
            headers={"Referer": f"{self.base}{path}"},
            allow_redirects=False,
            timeout=120,
        )

    def upload_and_confirm(self, path: str, data: dict, csv_path: Path) -> int:
        """Upload a CSV at ``path``, confirm its preview and return the job id."""
        self.session.get(f"{self.base}{path}", timeout=30)
        with open(csv_path, "rb") as file:
            preview = self.post(path, data, files={"file": (csv_path.name, file, "text/csv")})
        found = UPLOAD_ID.search(preview.text)
        check(found is not None, f"no preview with an upload id at {path}: {preview.status_code}")
        confirmed = self.post(f"{path}confirm/", {**data, "upload_id": found.group(1)})
        location = confirmed.headers.get("Location", "")
        check(location.startswith("/jobs/"), f"confirming at {path} did not queue a job")
        return int(location.strip("/").split("/")[-1])


# --- the operator: this process, on a machine folder of its own --------------------------------


def operator_setup(stage: Stage) -> None:
    """Point this process at the rehearsal's database and Redis, like any other machine."""
    os.environ.update(machine_env(stage, "operator", stage.figures["_database_url"]))
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(USER, "rehearsal@example.com", PASSWORD)


def job_wait(job_id: int, timeout: float):
    from core.models import Job, JobStatus

    def finished():
        return Job.objects.filter(pk=job_id, status__in=[JobStatus.DONE, JobStatus.FAILED]).first()

    wait_until(f"job {job_id}", finished, timeout)
    return finished()


def csv_write(path: Path, header: str, rows) -> Path:
    with open(path, "w", encoding="utf-8") as file:
        file.write(header + "\n")
        file.writelines(row + "\n" for row in rows)
    return path


def email_of(i: int) -> str:
    return f"r{i}@example.com"


def imports_run(stage: Stage) -> None:
    """Upload profiles through web 1 and consents through web 2; worker 2 imports both."""
    n = stage.args.recipients
    folder = stage.machine("operator")
    profiles = csv_write(
        folder / "profiles.csv",
        "external_id,email,name,city",
        (f"r-{i:06d},{email_of(i)},用户{i},{CITIES[i % len(CITIES)]}" for i in range(n)),
    )
    consents = csv_write(
        folder / "consents.csv",
        "external_id,channel,purpose,status",
        (f"r-{i:06d},email,marketing,granted" for i in range(n)),
    )
    for label, port_name, path, data, csv_path in (
        ("profiles", "web-1", "/profiles/import/", {"kind": "profiles"}, profiles),
        ("consents", "web-2", "/profiles/consent/import/", {}, consents),
    ):
        started = time.monotonic()
        job_id = Browser(stage.ports[port_name]).upload_and_confirm(path, data, csv_path)
        job = job_wait(job_id, timeout=300)
        seconds = time.monotonic() - started
        check(job.status == "done", f"the {label} import failed: {job.error[:2000]}")
        check(job.result.get("created") == n, f"the {label} import stored {job.result}")
        check(not stage.storage.joinpath(job.payload["key"]).exists(), "the upload was kept")
        check(set(job.payload) >= {"key"} and "path" not in job.payload, "a job got a path")
        stage.figures[f"{label}_import_seconds"] = round(seconds, 2)
        stage.figures[f"{label}_uploaded_through"] = port_name
        say(f"{label}: {n:,} rows uploaded through {port_name}, imported by worker-2 on machine-2"
            f" in {seconds:.1f}s (job {job_id}, storage key {job.payload['key']})")  # fmt: skip
    check(log_has(stage, "worker-2", "core.tasks.job_run_task"), "worker-2 ran no import job")
    for machine in ("machine-1", "machine-2"):
        left = list((stage.machine(machine) / "var").rglob("*.csv"))
        check(not left, f"{machine} keeps uploads in its own var/: {left}")


def campaign_schedule_now(n: int):
    """Create a static segment of the imported profiles and schedule a campaign to it."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from campaigns.services.workflow import campaign_create, campaign_schedule
    from profiles.models import Profile
    from segments.models import Segment, SegmentMembership

    segment = Segment.objects.create(name="Rehearsal", slug="rehearsal", kind="static")
    ids = Profile.objects.filter(external_id__startswith="r-").values_list("pk", flat=True)
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, profile_id=pk) for pk in ids
    )
    check(len(ids) == n, f"{len(ids)} imported profiles, expected {n}")
    user = get_user_model().objects.get(username=USER)
    body = "Hello {{ name }} in {{ city }}.\n\nUnsubscribe: {{ unsubscribe_url }}\n"
    campaign = campaign_create(
        data={"name": "Rehearsal", "channel": "email", "from_email": "shop@example.com",
              "include_segments": [segment.pk],
              "variants": [{"key": "A", "weight": 100, "subject": "Hello {{ name }}",
                            "body_text": body, "body_html": f"<p>{body}</p>"}]},
        user=user,
    )  # fmt: skip
    send_at = timezone.now() + datetime.timedelta(seconds=2)
    return campaign_schedule(campaign=campaign, send_at=send_at, user=user)


def sink_recipients(stage: Stage, machine: str) -> list[str]:
    path = stage.root / "logs" / f"sink-{machine}.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [rcpt for line in lines for rcpt in json.loads(line)["rcpt_tos"]]


def send_run(stage: Stage) -> None:
    """Send the campaign with both workers; every recipient must get exactly one message."""
    from django.db.models import Max, Min

    from campaigns.models import Campaign, Send

    n = stage.args.recipients
    campaign = campaign_schedule_now(n)
    started = time.monotonic()

    def sent():
        """the campaign to be marked sent"""
        return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENT).exists()

    wait_until("the campaign to be sent", sent, timeout=120 + 3 * n / max(stage.args.rate, 1))
    seconds = time.monotonic() - started
    time.sleep(0.5)  # the sinks write what they received every 0.1 s
    by_machine = {m: sink_recipients(stage, m) for m in ("machine-1", "machine-2")}
    received = collections.Counter(r for rcpts in by_machine.values() for r in rcpts)
    expected = {email_of(i) for i in range(n)}
    rows = Send.objects.filter(campaign=campaign)
    statuses = dict(rows.values_list("status").annotate(n=models_count()))
    span = rows.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    sending = (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0
    figures = stage.figures
    figures.update(
        recipients=n, send_seconds=round(seconds, 2), rate_limit_per_s=stage.args.rate,
        first_to_last_sent_seconds=round(sending, 2),
        observed_msgs_per_s=round(n / sending, 1) if sending else None,
        sent_by_worker_1=len(by_machine["machine-1"]),
        sent_by_worker_2=len(by_machine["machine-2"]),
        received=sum(received.values()),
        duplicates=sum(c - 1 for c in received.values() if c > 1),
        missing=len(expected - set(received)), unexpected=len(set(received) - expected),
        ledger=statuses,
    )  # fmt: skip
    say(f"campaign: {n:,} recipients in {seconds:.1f}s (beat start included; first to last "
        f"message {sending:.1f}s under a shared limit of {stage.args.rate}/s), worker-1 sent "
        f"{figures['sent_by_worker_1']:,}, worker-2 sent {figures['sent_by_worker_2']:,}; "
        f"{figures['duplicates']} duplicates, {figures['missing']} missing")  # fmt: skip
    check(figures["duplicates"] == 0 and figures["missing"] == 0, "not exactly one each")
    check(figures["unexpected"] == 0, "messages to addresses outside the audience")
    check(statuses == {"sent": n}, f"the ledger says {statuses}")
    check(figures["sent_by_worker_1"] > 0 and figures["sent_by_worker_2"] > 0, "one worker idle")


def models_count():
    from django.db.models import Count

    return Count("pk")


def dashboard_check(stage: Stage) -> None:
    """Both web processes serve the dashboard from the one Redis cache."""
    for name in ("web-1", "web-2"):
        response = Browser(stage.ports[name]).session.get(
            f"http://127.0.0.1:{stage.ports[name]}/", timeout=60
        )
        check(response.status_code == 200, f"{name}'s dashboard answered {response.status_code}")
    from django.core.cache import cache

    check(cache.get("dashboard:v2:totals") is not None, "the dashboard is not in the shared cache")


# --- the rehearsal ------------------------------------------------------------------------------


def arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200, help="messages/s for both workers")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="rehearsal", help="dropped and created again")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15", help="flushed first")
    parser.add_argument("--keep", action="store_true", help="keep the folders and the database")
    args = parser.parse_args(argv)
    if args.recipients < 1 or args.rate < 1:
        parser.error("--recipients and --rate must be at least 1")
    if not args.redis.startswith(("redis://", "rediss://")):
        parser.error("--redis must be a redis:// URL")
    return args


def machines_start(stage: Stage) -> None:
    """Migrate, collect static files on each machine, and start all but worker 1."""
    for name in ("operator", "machine-1", "machine-2", "logs", "object-storage"):
        (stage.root / name).mkdir()
    stage.figures["_database_url"] = database_recreate(stage.args.postgres, stage.args.database)
    redis_flush(stage.args.redis)
    run(stage, "migrate", "machine-1", "migrate", "--noinput", "-v0")
    for machine in ("machine-1", "machine-2"):
        run(stage, f"collectstatic on {machine}", machine, "collectstatic", "--noinput", "-v0")
        start_sink(stage, machine)
    start_web(stage, "web-1", "machine-1")
    start_web(stage, "web-2", "machine-2")
    start_worker(stage, "worker-2", "machine-2")
    start(stage, "beat", "machine-1", "celery", "-A", "config", "beat", "--loglevel=INFO")
    for name in ("sink-machine-1", "sink-machine-2", "web-1", "web-2"):
        wait_until(f"{name} to listen", lambda name=name: listening(stage.ports[name]), 60)
    wait_until("worker-2 to be ready", lambda: log_has(stage, "worker-2", " ready."), 60)
    operator_setup(stage)


def rehearse(stage: Stage) -> None:
    say(f"machines under {stage.root}: machine-1 (web-1, beat, later worker-1), machine-2 "
        f"(web-2, worker-2); object storage {stage.storage}; database {stage.args.database}; "
        f"Redis {stage.args.redis}")  # fmt: skip
    machines_start(stage)
    imports_run(stage)
    start_worker(stage, "worker-1", "machine-1")
    wait_until("worker-1 to be ready", lambda: log_has(stage, "worker-1", " ready."), 60)
    send_run(stage)
    dashboard_check(stage)


def main(argv=None) -> int:
    args = arguments(argv)
    stage = Stage(root=Path(tempfile.mkdtemp(prefix="rehearsal-")), args=args)
    failure = ""
    try:
        rehearse(stage)
    except RehearsalFailed as exc:
        failure = str(exc)
    except Exception as exc:  # a service down or a crash: reported as a failure, not raised
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        stop_all(stage)
        for name, process in stage.processes.items():
            if process.returncode not in (0, -15) and not failure:
                failure = f"{name} exited with {process.returncode}"
    figures = {k: v for k, v in stage.figures.items() if not k.startswith("_")}
    figures["ok"] = not failure
    if failure:
        figures["failure"] = failure
        say(f"FAILED: {failure} (logs in {stage.root / 'logs'})")
    if not args.keep:
        if not failure:
            shutil.rmtree(stage.root, ignore_errors=True)
        database_drop(args.postgres, args.database)
    print(json.dumps(figures, ensure_ascii=False), flush=True)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
