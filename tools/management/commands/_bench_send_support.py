"""Helpers of bench_send: the loopback SMTP sink, CPU meters, message files, the database URL."""

import os
import struct
from pathlib import Path
from urllib.parse import quote

from django.core.management.base import CommandError
from django.db import connection

from tools.smtp_sink import SinkProcess

ROOT = Path(__file__).resolve().parents[3]


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
    """VACUUM (ANALYZE) the models' tables: dead row versions out, statistics in."""
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


def frames(path: Path):
    """Yield the (recipient, bytes) messages ``_bare_build`` wrote to ``path``."""
    with path.open("rb") as source:
        while head := source.read(6):
            size_to, size_data = struct.unpack("!HI", head)
            yield source.read(size_to).decode(), source.read(size_data)


def split(path: Path, parts: int) -> list[Path]:
    """Deal the messages in ``path`` into ``parts`` files, one after the other; return them."""
    paths = [path.with_suffix(f".{n}.bin") for n in range(parts)]
    outs = [target.open("wb") for target in paths]
    try:
        for index, (to, data) in enumerate(frames(path)):
            address = to.encode()
            header = struct.pack("!HI", len(address), len(data))
            outs[index % parts].write(header + address + data)
    finally:
        for out in outs:
            out.close()
    return paths


def database_url() -> str:
    """Return a DATABASE_URL naming the database this process uses (for the sender processes)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Sink(SinkProcess):
    """The loopback SMTP sink (``tools.smtp_sink``), counting only, with its CPU time."""

    def __init__(self, out: Path, *, pipelining: bool = True):
        try:
            super().__init__(out, count_only=True, pipelining=pipelining)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None

    def cpu_seconds(self) -> float:
        """Return the CPU time the sink process has used so far (user and system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
