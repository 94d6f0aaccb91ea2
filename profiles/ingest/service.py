"""Ingest rows from any source (CSV files, the API): clean each row, write good ones in batches.

Bad rows are reported by position with the reason and skipped; good rows are written with one
set-based upsert per batch (``profiles.sql``), so ingesting the same rows again changes nothing.
Each batch of events written tells ``profiles.hooks``' receivers which events it inserted, once
its transaction commits.
"""

import datetime
import time
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from profiles import sql
from profiles.hooks import events_ingested_active, events_ingested_notify
from profiles.ingest.clean import clean_event_row, clean_profile_row
from profiles.ingest.devices import DeviceRows
from profiles.ingest.rows import IngestReport, Progress, RepeatCounter, event_key, valid_rows
from profiles.ingest.writers import BatchWriter, event_row, profile_row

BATCH_SIZE = 5000
EVENT_BATCH_SIZE = 100_000  # fewer, larger batches: each locks a profile once for its FK checks


def profiles_ingest(
    *, rows: Iterable[tuple[int, dict]], progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Validate and upsert profiles by external_id; ``rows`` yields (position, row dict).

    ``lanes`` > 0 writes on that many background connections (import commands and jobs only).
    """
    report = IngestReport(kind="profiles")
    started = time.perf_counter()
    writer = BatchWriter(sql.profiles_upsert, lanes=lanes)
    batch: dict[str, dict] = {}
    devices = DeviceRows()

    def flush():
        # A profile always goes to the same lane: its batches are applied in file order.
        parts: list[list[tuple]] = [[] for _ in range(writer.lanes)]
        for external_id, clean in batch.items():
            parts[hash(external_id) % writer.lanes].append(profile_row(external_id, clean))
        writer.submit(*parts)
        batch.clear()
        devices.batch_submitted()

    try:  # the lanes are closed whatever happens, also when the file breaks off
        for clean in valid_rows(rows, clean_profile_row, report):
            devices.add(clean)
            earlier = batch.get(clean["external_id"])
            if earlier:  # the same profile twice in one batch: later non-empty values win
                traits = {**earlier["traits"], **clean["traits"]}
                earlier.update(clean)
                earlier["traits"] = traits
            else:
                batch[clean["external_id"]] = clean
            if len(batch) >= BATCH_SIZE:
                flush()
            if progress and report.read % 1000 == 0:
                progress(report.read)
        if batch:
            flush()
    finally:
        report.created, report.updated = writer.close()
    devices.write_all()
    report.unchanged = report.good - report.created - report.updated
    return _finish(report, started, progress)


def events_ingest(
    *, rows: Iterable[tuple[int, dict]], progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Validate and store events, creating unknown profiles; ``rows`` yields (position, row).

    ``lanes`` > 0 writes on that many background connections (import commands and jobs only).
    """
    report = IngestReport(kind="events")
    started = time.perf_counter()
    now = timezone.now()
    seen = RepeatCounter()
    latest: dict[str, datetime.datetime] = {}
    writer = BatchWriter(lambda part: _events_write(part, now), lanes=lanes)
    parts: list[list[tuple]] = [[] for _ in range(writer.lanes)]
    held = 0
    try:  # the lanes are closed whatever happens, also when the file breaks off
        for clean in valid_rows(rows, clean_event_row, report):
            key = event_key(clean, seen)
            # A key always goes to the same lane: no two connections race to insert it.
            parts[hash(key) % writer.lanes if writer.lanes > 1 else 0].append(event_row(clean, key))
            held += 1
            moment, external_id = clean["occurred_at"], clean["external_id"]
            if external_id not in latest or latest[external_id] < moment:
                latest[external_id] = moment
            if held >= EVENT_BATCH_SIZE:
                writer.submit(*parts)
                parts, held = [[] for _ in range(writer.lanes)], 0
            if progress and report.read % 1000 == 0:
                progress(report.read)
        if held:
            writer.submit(*parts)
    finally:
        report.created, report.profiles_created = writer.close()
    if latest:
        with transaction.atomic():
            sql.last_seen_touch(latest)
    report.unchanged = report.good - report.created
    return _finish(report, started, progress)


def _events_write(part, now: datetime.datetime) -> tuple[int, int]:
    """Store one batch (in the writer's transaction) and tell the hook's receivers on commit."""
    if not events_ingested_active():
        return sql.events_store(part, now)
    inserted: list[tuple] = []
    counts = sql.events_store(part, now, inserted=inserted)
    events_ingested_notify(inserted)
    return counts


def _finish(report: IngestReport, started: float, progress: Progress | None) -> IngestReport:
    report.seconds = time.perf_counter() - started
    if progress:
        progress(report.read)
    return report
