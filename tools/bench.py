"""What the benchmarks share: consented recipients and the message they get, the loopback SMTP
sink, Celery worker processes sending to it, CPU meters and the database URL for other processes.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pgtrigger
from auditlog.context import disable_auditlog
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from profiles.models import ConsentRecord, ConsentState, Profile
from profiles.services.consent import ConsentEntry, consent_record_many
from tools.smtp_sink import SinkProcess

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 5_000
CITIES = ["上海", "北京", "广州", "深圳", "杭州"]
FROM_EMAIL = "Bench <bench@shop.example>"
WORKER_COMMAND = [
    sys.executable,
    "-m",
    "tools.bench_worker",
    "-A",
    "config",
    "worker",
    "--pool=solo",
    "--loglevel=INFO",
    "--without-mingle",
    "--without-gossip",
]


def variant_content(key: str) -> dict[str, str]:
    """Return the subject and bodies of variant ``key`` of the benchmarks' message."""
    return {
        "subject": f"{key}: {{{{ name }}}}, spring offers in {{{{ city }}}}",
        "body_text": (
            f"{key}: Hello {{{{ name }}}},\n\nOur spring offers for {{{{ city }}}} are "
            "here.\n\nUnsubscribe: {{ unsubscribe_url }}\n"
        ),
        "body_html": (
            f"<p>{key}: Hello {{{{ name }}}},</p><p>Our spring offers for "
            "{{ city }} are here.</p><p><a href='{{ unsubscribe_url }}'>Unsubscribe"
            "</a></p>"
        ),
    }


def recipients_create(*, prefix: str, count: int, say=None, channel: str = "email") -> list[int]:
    """Create ``count`` profiles (external id ``prefix`` + number, an email address and a mobile
    number each) with consent for marketing on ``channel``; return their ids in order."""
    ids: list[int] = []
    for start in range(0, count, CHUNK):
        profiles = Profile.objects.bulk_create(
            Profile(
                external_id=f"{prefix}{i:08d}",
                email=f"{prefix}{i}@example.com",
                phone=f"+86139{i:08d}" if channel == "sms" else "",
                name=f"用户{i}",
                city=CITIES[i % len(CITIES)],
                signup_at=timezone.now(),
            )
            for i in range(start, min(start + CHUNK, count))
        )
        consent_record_many(
            entries=[
                ConsentEntry(
                    profile_id=p.pk,
                    channel=channel,
                    purpose="marketing",
                    status="granted",
                    source="import",
                )
                for p in profiles
            ]
        )
        ids += [p.pk for p in profiles]
        if say is not None and count > CHUNK:
            say(f"  recipients: {len(ids):,}")
    return ids


def recipients_remove(*, prefix: str) -> bool:
    """Remove the profiles whose external id starts with ``prefix`` and their consent rows,
    without an audit entry for each (not user data); return whether there were any."""
    profiles = Profile.objects.filter(external_id__startswith=prefix)
    if not profiles.exists():
        return False
    # The consent ledger refuses deletes through the ORM and, on PostgreSQL, in the database;
    # these rows are the benchmark's own.
    sql, params = profiles.values("pk").query.sql_with_params()
    ignored = pgtrigger.ignore("profiles.ConsentRecord:consent_ledger_no_delete")
    with disable_auditlog(), transaction.atomic(), ignored, connection.cursor() as cursor:
        for model in (ConsentState, ConsentRecord):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table} WHERE profile_id IN ({sql})", params)
        profiles.delete()
    return True


class CpuMeter:
    """The share of the machine's CPU time spent busy since it was made (from /proc/stat)."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        # user, nice, system, idle, iowait, irq, softirq, steal (guest time is within user)
        fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        idle = fields[3] + fields[4]  # idle and iowait
        return sum(fields) - idle, sum(fields)

    def busy(self) -> float:
        busy, total = self._read()
        return round((busy - self.start[0]) / max(1, total - self.start[1]), 3)


def cpu_seconds(who: int) -> float:
    """Return the CPU time (user and system) of ``who`` (``resource.RUSAGE_SELF``, …)."""
    import resource

    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def vacuum(*models) -> None:
    """VACUUM (ANALYZE) the models' tables on PostgreSQL: dead row versions out, statistics in."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


def database_cpu_seconds() -> float | None:
    """Return the CPU time of this machine's PostgreSQL processes so far (the server and every
    backend, those that ended too), or None when the database is not on this machine."""
    host = connection.settings_dict.get("HOST") or "localhost"
    if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        return None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        name, _, rest = text.partition("(")[2].rpartition(")")
        if name != "postgres":
            continue
        fields = rest.split()  # from the state on: utime, stime, cutime, cstime are 11 to 14
        ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK") if ticks else None


def database_url() -> str:
    """Return a DATABASE_URL naming the database this process uses (for other processes)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Sink(SinkProcess):
    """The loopback SMTP sink (``tools.smtp_sink``) with its CPU time; counting only unless
    ``record`` (then each message is kept with the time it arrived)."""

    def __init__(self, out: Path, *, pipelining: bool = True, record: bool = False):
        try:
            super().__init__(out, count_only=not record, pipelining=pipelining)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None

    def cpu_seconds(self) -> float:
        """Return the CPU time the sink process has used so far (user and system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    """`celery worker` processes (solo pool, each in its own process group) on this database
    and the configured broker, sending email over SMTP to 127.0.0.1:``smtp_port`` whatever the
    settings module says (``tools.bench_worker``); ``env`` adds settings (CAMPAIGN_WORKERS …).
    """

    def __init__(self, *, smtp_port: int, folder: Path, env: dict | None = None):
        self.smtp_port = smtp_port
        self.folder = Path(folder)
        self.env = {key: str(value) for key, value in (env or {}).items()}
        self.processes: list[subprocess.Popen] = []

    def start(self, count: int = 1) -> None:
        """Start ``count`` more workers and wait until each is ready for tasks."""
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONPATH": str(ROOT),
            "BENCH_SMTP_PORT": str(self.smtp_port),
            **self.env,
        }
        started = []
        for _ in range(count):
            log = self.folder / f"worker-{len(self.processes)}.log"
            name = f"bench-{uuid.uuid4().hex[:8]}@%h"
            with open(log, "wb") as out:
                process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
                    [*WORKER_COMMAND, "-n", name],
                    cwd=ROOT,
                    env=environment,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            process.log_path = log
            self.processes.append(process)
            started.append(process)
        for process in started:
            self._wait_ready(process)

    def _wait_ready(self, process, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while b" ready." not in process.log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"a worker did not start:\n{self.log(process)}")
            time.sleep(0.2)

    @staticmethod
    def log(process) -> str:
        return process.log_path.read_text(errors="replace")[-3000:]

    def kill(self, process) -> None:
        """SIGKILL the worker's whole process group: nothing flushed, nothing acknowledged."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def cpu_seconds(self) -> float:
        """Return the CPU time (user and system) the running workers have used so far."""
        ticks = 0
        for process in self.processes:
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{process.pid}/stat").read_text()
                ticks += sum(int(value) for value in stat.rpartition(")")[2].split()[11:13])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after 15 s)."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(process)
