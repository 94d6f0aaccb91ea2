"""Hooks of profiles for the apps above: events were ingested.

Every ingest path (``POST /api/v1/events/``, the ``import_events`` command, the import job)
writes events through ``profiles.ingest.events_ingest``, which calls ``events_ingested_notify``
once per written batch with the events that batch inserted (not those skipped as already
stored). An app above registers from its ``AppConfig.ready()``::

    from profiles.hooks import events_ingested_register

    events_ingested_register(on_events)  # on_events(records: list[EventRecord]) -> None

``on_events`` runs once the batch's transaction has committed (``core.hooks``), never after a
rollback; a receiver that raises is logged and ingest goes on. With no receiver registered,
ingest reads nothing back.
"""

import datetime
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from core.hooks import Hook


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event just stored: whose, which, when (aware, UTC) and its properties (read-only)."""

    profile_id: int
    name: str
    occurred_at: datetime.datetime
    properties: dict[str, Any]


EventsReceiver = Callable[[list[EventRecord]], Any]

EVENTS_INGESTED = Hook("profiles.events_ingested")


def events_ingested_register(receiver: EventsReceiver) -> EventsReceiver:
    """Call ``receiver(records)`` after each committed batch of newly stored events."""
    return EVENTS_INGESTED.register(receiver)


def events_ingested_unregister(receiver: EventsReceiver) -> None:
    """Stop calling ``receiver`` (tests, mostly)."""
    EVENTS_INGESTED.unregister(receiver)


def events_ingested_active() -> bool:
    """Return whether a receiver is registered: ingest only reads inserted rows back if so."""
    return EVENTS_INGESTED.active


def events_ingested_notify(rows: Iterable[tuple]) -> None:
    """Pass the events of ``rows`` to the receivers once the current transaction commits.

    ``rows``: (profile_id, name, occurred_at, properties) of the events just inserted; the
    properties as a dict or as JSON text. Nothing is called for no rows.
    """
    if not EVENTS_INGESTED.active:
        return
    rows = list(rows)
    if not rows:
        return
    records = [
        EventRecord(profile_id, name, occurred_at, properties)
        for (profile_id, name, occurred_at, _given), properties in zip(
            rows, _properties([row[3] for row in rows]), strict=True
        )
    ]
    EVENTS_INGESTED.notify(records)


def _properties(values: list) -> list[dict]:
    """Return the properties as dicts; JSON texts are decoded in one call (a batch holds up to
    100,000 of them: one ``json.loads`` of the array is several times faster than one each)."""
    if all(isinstance(value, str) for value in values):
        return json.loads(f"[{','.join(values)}]")
    return [json.loads(value) if isinstance(value, str) else value for value in values]
