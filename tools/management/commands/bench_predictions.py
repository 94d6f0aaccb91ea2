"""Benchmark a whole predictions refresh on the data in the database (PostgreSQL).

Prints the time of each phase (features, both models, clusters, rules, writing the scores),
the peak memory of the process, and, in the same run, the time of one plain aggregate of the
purchases (the floor any feature read has to pay). Ends with one JSON line.
"""

import json
import resource
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from predictions.services import predictions_refresh, run_figures

PLAIN_AGGREGATE = (
    "SELECT profile_id, count(*), sum(amount), max(occurred_at) FROM {events} "
    "WHERE name = 'purchase' GROUP BY profile_id"
)
TARGET_SECONDS = 600
TARGET_PEAK_MB = 4096


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_aggregate_seconds() -> tuple[float, int]:
    """Return the seconds and rows of the plain purchase aggregate, read to the last row."""
    from profiles.models import Event

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            PLAIN_AGGREGATE.format(events=connection.ops.quote_name(Event._meta.db_table))
        )
        rows = 0
        while chunk := cursor.fetchmany(50_000):
            rows += len(chunk)
    return time.perf_counter() - started, rows


class Command(BaseCommand):
    help = (
        "On PostgreSQL: run one whole predictions refresh on the database's data and print each "
        "phase's time, the peak memory, and the time of a plain purchase aggregate in the same "
        "run. Ends with one JSON line."
    )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_predictions runs on PostgreSQL only (DATABASE_URL).")
        plain_before, rows = plain_aggregate_seconds()
        self.stdout.write(f"plain purchase aggregate: {plain_before:.2f} s ({rows:,} purchasers)")

        def progress(done, total, message="", force=False):
            if message and done < total:
                self.stdout.write(f"  {message}… ({time.perf_counter() - started:.1f} s)")

        started = time.perf_counter()
        run = predictions_refresh(report=progress)
        seconds = time.perf_counter() - started
        plain_after, _rows = plain_aggregate_seconds()
        figures = run_figures(run)
        for phase in figures["phases"]:
            self.stdout.write(f"{phase['name']:<10} {phase['seconds']:>9.2f} s")
        peak = _peak_mb()
        plain = min(plain_before, plain_after)
        self.stdout.write(
            f"refresh {seconds:.1f} s (target ≤ {TARGET_SECONDS} s), peak {peak:,.0f} MB "
            f"(target ≤ {TARGET_PEAK_MB} MB); plain aggregate {plain:.2f} s, "
            f"refresh = {seconds / plain:.1f}× it; status {run.status}, scored {run.scored:,}"
        )
        self.stdout.write(
            json.dumps(
                {
                    "refresh_seconds": round(seconds, 2),
                    "peak_mb": round(peak),
                    "plain_aggregate_seconds": round(plain, 3),
                    "purchasers": rows,
                    "within_targets": seconds <= TARGET_SECONDS and peak <= TARGET_PEAK_MB,
                    **figures,
                }
            )
        )
