"""Entering a flow: the entry rule, the re-entry policy and the new enrollments, set-based."""

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from flows.definition import definition_parse
from flows.models import Enrollment, Flow
from flows.rules import profiles_matching


def _allowed(
    flow: Flow, policy: str, days: int, ids: list[int], now: datetime.datetime
) -> dict[int, int]:
    """Return the profiles the re-entry policy lets in, with their next entry number."""
    seen = {
        row["profile_id"]: row
        for row in Enrollment.objects.filter(flow=flow, profile_id__in=ids)
        .values("profile_id")
        .annotate(
            last_entry=Max("entry"),
            last_at=Max("entered_at"),
            active=Count("pk", filter=Q(status=Enrollment.Status.ACTIVE)),
            today=Count("pk", filter=Q(entered_at__gte=now - datetime.timedelta(days=1))),
        )
    }
    allowed = {}
    for profile_id in ids:
        row = seen.get(profile_id)
        if row is None:
            allowed[profile_id] = 1
            continue
        if row["active"] or policy == "once":
            continue
        if policy == "after_days" and row["last_at"] > now - datetime.timedelta(days=days):
            continue
        if row["today"] >= settings.FLOW_MAX_ENTRIES_PER_DAY:  # a flow that keeps starting itself
            continue
        allowed[profile_id] = row["last_entry"] + 1
    return allowed


def flow_enroll(
    *, flow: Flow, profile_ids: Iterable[int], now: datetime.datetime | None = None
) -> int:
    """Enroll these profiles in the flow's live version where its entry rule and re-entry
    policy let them; return how many entered. They are due at once."""
    ids = sorted(set(profile_ids))
    if not ids or flow.status != Flow.Status.LIVE or flow.version_id is None:
        return 0
    now = now or timezone.now()
    definition = definition_parse(flow.version.definition, check=False)
    ids = sorted(profiles_matching(definition.raw.get("entry_rule"), ids, now=now))
    policy, days = definition.reentry
    allowed = _allowed(flow, policy, days, ids, now)
    rows = [
        Enrollment(
            flow=flow,
            version_id=flow.version_id,
            profile_id=profile_id,
            entry=entry,
            step_key=definition.start or "",
            step_since=now,
            wake_at=now,
            entered_at=now,
        )
        for profile_id, entry in allowed.items()
    ]
    with transaction.atomic():
        Enrollment.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    created = Enrollment.objects.filter(
        flow=flow, profile_id__in=list(allowed), entered_at=now
    ).count()
    if created:
        from flows.tasks import flows_advance_task

        transaction.on_commit(lambda: flows_advance_task.delay())
    return created
