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
from profiles.ingest.identity import IdentityResolver, row_identifiers
from profiles.ingest.rows import (
    IngestReport,
    Progress,
    RepeatCounter,
    RowError,
    event_key,
    valid_rows,
)
from profiles.ingest.writers import BatchWriter, event_row, profile_row

BATCH_SIZE = 5000
EVENT_BATCH_SIZE = 100_000  # fewer, larger batches: each locks a profile once for its FK checks


def profiles_ingest(
    *, rows: Iterable[tuple[int, dict]], progress: Progress | None = None, lanes: int = 0
) -> IngestReport:
    """Validate and upsert profiles by external_id; ``rows`` yields (position, row dict).

    Rows with WeChat or WeCom identifiers are stitched first (``profiles.ingest.identity``).
    ``lanes`` > 0 writes on that many background connections (import commands and jobs only).
    """
    report = IngestReport(kind="profiles")
    started = time.perf_counter()
    writer = BatchWriter(sql.profiles_upsert, lanes=lanes)
    resolver = IdentityResolver(events=False)
    batch: dict[str, dict] = {}
    devices = DeviceRows()
    stitched: dict[str, int] = {}  # external_id → position, for the batch's rows to stitch

    def flush():
        if stitched:  # earlier batches first: stitching reads what they wrote
            writer.drain()
            at = {position: external_id for external_id, position in stitched.items()}
            for position, exc in resolver.settle([(p, batch[e]) for p, e in at.items()]):
                report.errors.append(RowError.of(position, exc))
                del batch[at[position]]
            stitched.clear()
        # A profile always goes to the same lane: its batches are applied in file order.
        parts: list[list[tuple]] = [[] for _ in range(writer.lanes)]
        for external_id, clean in batch.items():
            parts[hash(external_id) % writer.lanes].append(profile_row(external_id, clean))
        writer.submit(*parts)
        batch.clear()
        devices.batch_submitted()

    try:  # the lanes are closed whatever happens, also when the file breaks off
        for position, clean in valid_rows(rows, clean_profile_row, report):
            devices.add(clean)
            earlier = batch.get(clean["external_id"])
            if earlier:  # the same profile twice in one batch: later non-empty values win
                traits = {**earlier["traits"], **clean["traits"]}
                earlier.update(clean)
                earlier["traits"] = traits
            else:
                batch[clean["external_id"]] = clean
            if row_identifiers(clean):
                stitched[clean["external_id"]] = position
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

    Events with WeChat or WeCom identifiers go to the profile holding them, or to a new
    provisional one (``profiles.ingest.identity``); an event may then lack external_id.
    ``lanes`` > 0 writes on that many background connections (import commands and jobs only).
    """
    report = IngestReport(kind="events")
    started = time.perf_counter()
    now = timezone.now()
    seen = RepeatCounter()
    latest: dict[str, datetime.datetime] = {}
    writer = BatchWriter(lambda part: _events_write(part, now), lanes=lanes)
    resolver = IdentityResolver(events=True)
    parts: list[list[tuple]] = [[] for _ in range(writer.lanes)]
    stitched: list[tuple[int, dict, str]] = []  # (position, row, key) to stitch before writing
    held = 0

    def place(clean: dict, key: str) -> None:
        # A key always goes to the same lane: no two connections race to insert it.
        parts[hash(key) % writer.lanes if writer.lanes > 1 else 0].append(event_row(clean, key))
        moment, external_id = clean["occurred_at"], clean["external_id"]
        if external_id not in latest or latest[external_id] < moment:
            latest[external_id] = moment

    def submit():
        nonlocal parts, held
        if stitched:  # earlier batches first: stitching reads the profiles they made
            writer.drain()
            _stitch(resolver, stitched, report, place)
        writer.submit(*parts)
        parts, held = [[] for _ in range(writer.lanes)], 0

    try:  # the lanes are closed whatever happens, also when the file breaks off
        for position, clean in valid_rows(rows, clean_event_row, report):
            key = event_key(clean, seen)
            if row_identifiers(clean):
                stitched.append((position, clean, key))
            else:
                place(clean, key)
            held += 1
            if held >= EVENT_BATCH_SIZE:
                submit()
            if progress and report.read % 1000 == 0:
                progress(report.read)
        if held:
            submit()
    finally:
        report.created, report.profiles_created = writer.close()
    report.profiles_created += resolver.profiles_created
    if latest:
        with transaction.atomic():
            sql.last_seen_touch(latest)
    report.unchanged = report.good - report.created
    return _finish(report, started, progress)


def _stitch(resolver, stitched: list[tuple[int, dict, str]], report: IngestReport, place) -> None:
    """Settle the profiles of the held (position, row, key) events, then ``place`` each one
    that was not refused; refused ones are reported by position."""
    refused = dict(resolver.settle([(position, row) for position, row, _key in stitched]))
    for position, clean, key in stitched:
        if position in refused:
            report.errors.append(RowError.of(position, refused[position]))
        else:
            place(clean, key)
    stitched.clear()


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
    report.errors.sort(key=lambda error: error.line)  # stitching refuses rows at batch time
    if progress:
        progress(report.read)
    return report
