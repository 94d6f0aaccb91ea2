"""Exit rules: what stops an enrollment wherever it is (a goal event, leaving a segment,
withdrawing consent), checked for a whole batch before it moves, and at once when an event or
a segment change arrives."""

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Max, Q
from django.utils import timezone

from flows.models import Enrollment
from profiles.models import ConsentState, ConsentStatus, Event
from segments.models import SegmentMembership


def _reason(rule: dict) -> str:
    ((kind, value),) = rule.items()
    return f"{kind}:{value}"[:40]


def _leaving(rule: dict, items) -> set[int]:
    """Return the profile ids among ``items`` (enrollments) that meet exit ``rule`` now."""
    profiles = {item.profile_id for item in items}
    if "event" in rule:
        since = min(item.entered_at for item in items)
        rows = Event.objects.filter(
            profile_id__in=profiles, name=rule["event"], occurred_at__gte=since
        )
        last = dict(
            rows.values("profile_id")
            .annotate(last=Max("occurred_at"))
            .values_list("profile_id", "last")
        )
        return {
            item.profile_id for item in items if last.get(item.profile_id, since) > item.entered_at
        }
    if "segment_left" in rule:
        inside = SegmentMembership.objects.filter(
            profile_id__in=profiles, segment__slug=rule["segment_left"]
        ).values_list("profile_id", flat=True)
        return profiles - set(inside)
    value = rule["consent_withdrawn"]
    refused = (
        ConsentState.objects.filter(profile_id__in=profiles)
        .filter(Q(channel=value) | Q(purpose=value))
        .exclude(status=ConsentStatus.GRANTED)
    )
    return set(refused.values_list("profile_id", flat=True))


def exits_apply(batch, items: list) -> set[int]:
    """Exit the claimed enrollments that meet an exit rule of their version; return their ids."""
    by_version = defaultdict(list)
    for item in items:
        by_version[item.version_id].append(item)
    exited: dict[str, list[int]] = defaultdict(list)
    for version_id, group in by_version.items():
        remaining = list(group)
        for rule in batch.version(version_id).definition.exits:
            leaving = _leaving(rule, remaining)
            exited[_reason(rule)] += [i.pk for i in remaining if i.profile_id in leaving]
            remaining = [i for i in remaining if i.profile_id not in leaving]
    for reason, pks in exited.items():
        enrollments_exit(enrollment_ids=pks, reason=reason, now=batch.now)
    return {pk for pks in exited.values() for pk in pks}


def enrollments_exit(
    *, enrollment_ids: Iterable[int], reason: str, now: datetime.datetime | None = None
) -> int:
    """Stop these enrollments where they are (only those still active); return how many."""
    ids = list(enrollment_ids)
    if not ids:
        return 0
    return Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.EXITED,
        finished_at=now or timezone.now(),
        exit_reason=reason[:40],
        wake_at=None,
    )
