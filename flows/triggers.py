"""What starts, wakes, converts and stops enrollments from outside: events as they are
ingested, segment and stage transitions, dates coming round, and messages opened or clicked.

Events arrive through ``profiles.hooks`` after their commit; ``flows_events_receive`` looks at
an index of the live flows' event names (cached) and queues the work only when an event
matters to some flow, so ingest pays nothing for events no flow listens to.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from flows.definition import clock
from flows.enroll import flow_enroll
from flows.exits import enrollments_exit
from flows.models import Enrollment, Flow, FlowVersion
from flows.triggers_spec import where_matches

INDEX_KEY = "flows:event-index"
INDEX_SECONDS = 300
# In the index under this name (no event has it): some live flow starts on a message opened.
MESSAGE_KEY = " message"


def _version_uses(raw: dict, current: bool) -> Iterable[tuple[str, str]]:
    """Yield (event name, use) for what a version listens to."""
    trigger = raw.get("trigger") or {}
    if current and trigger.get("type") == "event":
        yield trigger.get("event"), "trigger"
    if current and trigger.get("type") == "message":
        yield MESSAGE_KEY, "message"
    for rule in raw.get("exit") or []:
        if "event" in rule:
            yield rule["event"], "exit"
    if (raw.get("goal") or {}).get("event"):
        yield raw["goal"]["event"], "goal"
    for name in _waited_events(raw.get("steps") or []):
        yield name, "wait"


def event_index() -> dict[str, list[str]]:
    """Return, per event name, what it means to the running flows: trigger, exit, wait, goal."""
    index = cache.get(INDEX_KEY)
    if index is not None:
        return index
    uses: dict[str, set[str]] = defaultdict(set)
    versions = FlowVersion.objects.filter(
        Q(flow__status__in=[Flow.Status.LIVE, Flow.Status.PAUSED])
    ).values_list("pk", "definition", "flow__version_id")
    for pk, raw, current in versions:
        for name, use in _version_uses(raw, pk == current):
            uses[name].add(use)
    index = {name: sorted(kinds) for name, kinds in uses.items()}
    cache.set(INDEX_KEY, index, INDEX_SECONDS)
    return index


def event_index_forget() -> None:
    cache.delete(INDEX_KEY)


def _waited_events(steps: list) -> Iterable[str]:
    for step in steps:
        if not isinstance(step, dict):
            continue
        if step.get("kind") == "wait" and isinstance(step.get("until_event"), dict):
            yield step["until_event"].get("event")
        for path in (step.get("paths") or {}).values():
            yield from _waited_events(path if isinstance(path, list) else [])


def flows_events_receive(records) -> None:
    """The ingest hook: queue the events that matter to some flow (nothing otherwise)."""
    index = event_index()
    wanted = [
        [r.profile_id, r.name, r.occurred_at.isoformat(), r.properties or {}]
        for r in records
        if r.name in index
    ]
    if wanted:
        from flows.tasks import flows_events_task

        flows_events_task.delay(wanted)


def _parsed(events: list) -> list[tuple[int, str, datetime.datetime, dict]]:
    return [
        (pid, name, datetime.datetime.fromisoformat(at), props or {})
        for pid, name, at, props in events
    ]


def _wake_waiting(parsed, index, now) -> int:
    """Make due the enrollments of these profiles that wait for one of these events."""
    woken = 0
    waited = defaultdict(set)
    for profile_id, name, _at, _props in parsed:
        if "wait" in index.get(name, ()):
            waited[name].add(profile_id)
    for ids in waited.values():
        woken += Enrollment.objects.filter(
            profile_id__in=ids, status=Enrollment.Status.ACTIVE, wake_at__gt=now
        ).update(wake_at=now)
    return woken


def _enroll_triggered(parsed, index, now) -> int:
    """Enroll the profiles whose event (with its properties) starts a live flow."""
    names = {name for _pid, name, _at, _p in parsed if "trigger" in index.get(name, ())}
    if not names:
        return 0
    flows = Flow.objects.filter(
        status=Flow.Status.LIVE, trigger_type="event", trigger_key__in=names
    ).select_related("version")
    enrolled = 0
    for flow in flows:
        where = (flow.version.definition.get("trigger") or {}).get("where")
        ids = {
            profile_id
            for profile_id, name, _at, props in parsed
            if name == flow.trigger_key and where_matches(where, props)
        }
        enrolled += flow_enroll(flow=flow, profile_ids=ids, now=now)
    return enrolled


def flows_events_handle(*, events: list, now: datetime.datetime | None = None) -> dict:
    """Apply ingested events (profile id, name, ISO time, properties): exits and conversions
    first, then wake enrollments waiting for them, then enroll where they trigger a flow."""
    now = now or timezone.now()
    index = event_index()
    parsed = _parsed(events)
    counts = {"exited": 0, "converted": 0}
    for profile_id, name, at, _props in parsed:
        uses = index.get(name, ())
        if "exit" in uses:
            counts["exited"] += _exit_on_event(profile_id, name, at, now)
        if "goal" in uses:
            counts["converted"] += _convert(profile_id, name, at)
    counts["woken"] = _wake_waiting(parsed, index, now)
    counts["enrolled"] = _enroll_triggered(parsed, index, now)
    return counts


def _exit_on_event(profile_id: int, name: str, at: datetime.datetime, now) -> int:
    candidates = Enrollment.objects.filter(
        profile_id=profile_id, status=Enrollment.Status.ACTIVE, entered_at__lte=at
    ).select_related("version")
    ids = [e.pk for e in candidates if {"event": name} in (e.version.definition.get("exit") or [])]
    return enrollments_exit(enrollment_ids=ids, reason=f"event:{name}", now=now)


def _convert(profile_id: int, name: str, at: datetime.datetime) -> int:
    changed = 0
    candidates = Enrollment.objects.filter(
        profile_id=profile_id, converted_at__isnull=True, entered_at__lte=at
    ).select_related("version")
    for enrollment in candidates:
        goal = enrollment.version.definition.get("goal") or {}
        window = datetime.timedelta(days=goal.get("within_days") or 0)
        if goal.get("event") == name and at <= enrollment.entered_at + window:
            changed += Enrollment.objects.filter(
                pk=enrollment.pk, converted_at__isnull=True
            ).update(converted_at=at)
    return changed


def _segment_rows(flow: Flow, trigger: dict, lefts: set[str]) -> list[tuple[int, int, bool, str]]:
    """Return the flow's unread transitions: (id, profile id, entered, segment slug)."""
    from segments.models import SegmentTransition

    rows = SegmentTransition.objects.filter(pk__gt=flow.transition_cursor).order_by("pk")
    rows = rows.filter(
        Q(segment__slug=trigger.get("segment"), entered=True)
        | Q(segment__slug__in=lefts, entered=False)
    )
    return list(rows.values_list("pk", "profile_id", "entered", "segment__slug")[:50_000])


def segment_transitions_handle() -> int:
    """Enroll profiles that entered trigger segments and exit those that left exit segments,
    reading each live flow's transitions after its cursor."""
    enrolled = 0
    for flow in Flow.objects.filter(status=Flow.Status.LIVE).select_related("version"):
        definition = flow.version.definition
        trigger = definition.get("trigger") or {}
        lefts = {r["segment_left"] for r in definition.get("exit") or [] if "segment_left" in r}
        if trigger.get("type") != "segment_entered" and not lefts:
            continue
        rows = _segment_rows(flow, trigger, lefts)
        if not rows:
            continue
        for slug in lefts:
            leaving = {pid for _pk, pid, inside, s in rows if not inside and s == slug}
            ids = Enrollment.objects.filter(
                flow=flow, profile_id__in=leaving, status=Enrollment.Status.ACTIVE
            ).values_list("pk", flat=True)
            enrollments_exit(enrollment_ids=list(ids), reason=f"segment_left:{slug}")
        enrolled += flow_enroll(
            flow=flow, profile_ids=[pid for _pk, pid, inside, _s in rows if inside]
        )
        Flow.objects.filter(pk=flow.pk).update(transition_cursor=rows[-1][0])
    return enrolled


def stage_transitions_handle() -> int:
    """Enroll profiles that entered the stage of a stage-triggered live flow."""
    from journeys.models import StageTransition

    enrolled = 0
    for flow in Flow.objects.filter(status=Flow.Status.LIVE, trigger_type="stage_entered"):
        rows = list(
            StageTransition.objects.filter(pk__gt=flow.stage_cursor, to_stage_id=flow.trigger_key)
            .order_by("pk")
            .values_list("pk", "profile_id")[:50_000]
        )
        if rows:
            enrolled += flow_enroll(flow=flow, profile_ids=[pid for _pk, pid in rows])
            Flow.objects.filter(pk=flow.pk).update(stage_cursor=rows[-1][0])
    return enrolled


def _date_matches(trigger: dict, today: datetime.date) -> Q:
    """Return the condition on Profile: the trigger's date (plus its offset) is ``today``."""
    day = today - datetime.timedelta(days=trigger.get("offset_days", 0))
    attr = trigger["attr"]
    if attr.startswith("traits."):
        key = attr.removeprefix("traits.")
        if trigger.get("annual", True):
            return Q(**{f"traits__{key}__endswith": day.strftime("-%m-%d")})
        return Q(**{f"traits__{key}__startswith": day.isoformat()})
    if trigger.get("annual", True):
        lookups = {f"{attr}__month": day.month, f"{attr}__day": day.day}
        return (
            Q(**lookups) & ~Q(**{f"{attr}__year": day.year})
            if attr == "signup_at"
            else Q(**lookups)
        )
    return Q(**{f"{attr}__date" if attr == "signup_at" else attr: day})


def date_triggers_handle(*, now: datetime.datetime | None = None) -> int:
    """Once a day per flow, after its time of day: enroll profiles whose date has come round."""
    from profiles.models import Profile

    now = now or timezone.now()
    local = timezone.localtime(now)
    enrolled = 0
    for flow in Flow.objects.filter(status=Flow.Status.LIVE, trigger_type="date").select_related(
        "version"
    ):
        trigger = flow.version.definition["trigger"]
        if flow.dates_done_on == local.date() or local.time() < clock(trigger.get("time", "09:00")):
            continue
        claimed = (
            Flow.objects.filter(pk=flow.pk)
            .exclude(dates_done_on=local.date())
            .update(dates_done_on=local.date())
        )
        if not claimed:
            continue
        ids = Profile.objects.filter(_date_matches(trigger, local.date())).values_list(
            "pk", flat=True
        )
        enrolled += flow_enroll(flow=flow, profile_ids=list(ids), now=now)
    return enrolled


def flows_engagement_receive(record) -> None:
    """The campaigns' engagement hook: an open or a click may start a message-triggered flow."""
    kind = {"open": "opened", "click": "clicked"}.get(record.kind)
    if kind is None:
        return
    flows = Flow.objects.filter(status=Flow.Status.LIVE, trigger_type="message").select_related(
        "version"
    )
    from campaigns.models import Campaign

    slug = Campaign.objects.filter(pk=record.campaign_id).values_list("slug", flat=True).first()
    for flow in flows:
        trigger = flow.version.definition["trigger"]
        if trigger.get("message") == kind and trigger.get("campaign") in (None, "", slug):
            flow_enroll(flow=flow, profile_ids=[record.profile_id])
