"""Delete behavioural data older than PERSONAL_DATA_RETENTION_MONTHS (0: keep it all).

Events, and what other apps register with ``retention_register`` (the campaigns' tracking rows),
go in chunks by a nightly job, so no statement holds long locks. Profiles, consent records and
the send ledger stay: counts and consent proofs do not expire with behaviour. The computed
features of the next refresh then reflect only the events kept.
"""

import calendar
import datetime
from collections.abc import Callable

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from profiles.models import Event

CHUNK = 5000

Purger = Callable[[datetime.datetime], int]
PURGERS: dict[str, Purger] = {}


def retention_register(name: str) -> Callable[[Purger], Purger]:
    """Register ``purger(cutoff) -> rows deleted``, run by every retention pass as ``name``."""

    def register(purger: Purger) -> Purger:
        PURGERS[name] = purger
        return purger

    return register


def months_before(moment: datetime.datetime, months: int) -> datetime.datetime:
    """Return the moment ``months`` calendar months before ``moment`` (the day clamped)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def rows_delete_in_chunks(rows: QuerySet) -> int:
    """Delete the rows ``rows`` selects, CHUNK at a time; return how many were deleted."""
    deleted = 0
    while ids := list(rows.order_by().values_list("pk", flat=True)[:CHUNK]):
        deleted += rows.model.objects.filter(pk__in=ids).delete()[0]
    return deleted


@retention_register("events")
def _events_purge(cutoff: datetime.datetime) -> int:
    return rows_delete_in_chunks(Event.objects.filter(occurred_at__lt=cutoff))


def personal_data_retention_apply(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Delete what is older than the retention period; return the rows deleted by kind."""
    months = settings.PERSONAL_DATA_RETENTION_MONTHS
    if not months:
        return {}
    cutoff = months_before(now or timezone.now(), months)
    return {name: purge(cutoff) for name, purge in PURGERS.items()}
