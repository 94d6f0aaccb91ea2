"""What each kind of step does to a group of enrollments standing on it, set-based.

A handler gets the batch, the version, the step and the enrollments that have not run it yet
(plus any StepRun already there, for steps that wait on an answer: webhooks), records one
StepRun for each enrollment it completes (``batch.run``) and returns a Move per enrollment.
"""

import datetime
import hashlib
import zoneinfo
from collections import defaultdict

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from flows.definition import clock, duration
from flows.engine import NEXT, PARK, Batch, Item, Move, Version, go, wait_until
from flows.models import StepRun
from flows.rules import profiles_matching
from profiles.models import Event, Profile, Provenance, Tag


def send_step(batch: Batch, version: Version, step, items: list[Item], existing) -> dict[int, Move]:
    """Queue the step's message for each enrollment in the send ledger (one row per entry)."""
    from campaigns.models import Campaign
    from campaigns.services.audience import campaign_sends_add, campaign_split
    from campaigns.tasks import campaign_send_task
    from flows.content import campaign_content_errors

    campaign = Campaign.objects.get(pk=version.campaigns[step.key])
    errors = campaign_content_errors(campaign)
    if errors:
        batch.paused[version.flow.pk] = ERROR_CONTENT.format(
            step=step.key, errors="; ".join(errors)
        )
        return {}  # they stay on the step until the flow is fixed and live again
    by_entry: dict[int, list[int]] = defaultdict(list)
    for item in items:
        by_entry[item.entry].append(item.profile_id)
    split = campaign_split(campaign=campaign)
    for entry, profile_ids in by_entry.items():
        campaign_sends_add(campaign=campaign, profile_ids=profile_ids, split=split, entry=entry)
    batch.queued += len(items)
    for item in items:
        batch.run(item, step, detail={"campaign": campaign.slug})
    batch.later(f"send:{campaign.pk}", lambda: campaign_send_task.delay(campaign.pk))
    return {item.pk: NEXT for item in items}


ERROR_CONTENT = _(
    "The message of step “{step}” no longer validates: {errors}. Fix it, then go live again."
)


def _zone(traits_zone) -> datetime.tzinfo:
    if isinstance(traits_zone, str) and traits_zone:
        try:
            return zoneinfo.ZoneInfo(traits_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.get_default_timezone()


def next_weekday_time(
    since: datetime.datetime, weekdays, at: datetime.time, zone
) -> datetime.datetime:
    """Return the first moment after ``since`` that falls on one of ``weekdays`` at ``at``."""
    local = since.astimezone(zone)
    for days in range(8):
        day = local.date() + datetime.timedelta(days=days)
        moment = datetime.datetime.combine(day, at, tzinfo=zone)
        if day.weekday() in weekdays and moment > local:
            return moment
    raise AssertionError("a week always holds one of the weekdays")  # pragma: no cover


def _event_since(items: list[Item], spec) -> dict[int, datetime.datetime]:
    """Return each profile's latest matching event (at or after the earliest step start)."""
    events = Event.objects.filter(
        profile_id__in=[item.profile_id for item in items],
        name=spec["event"],
        occurred_at__gte=min(item.step_since for item in items),
    )
    for name, value in (spec.get("where") or {}).items():
        events = events.filter(**{f"properties__{name}": value})
    return dict(
        events.values("profile_id")
        .annotate(last=Max("occurred_at"))
        .values_list("profile_id", "last")
    )


def wait_step(batch: Batch, version: Version, step, items: list[Item], existing) -> dict[int, Move]:
    """Hold each enrollment until its time has come (or its event has happened)."""
    config, moves = step.config, {}
    if config.get("until_event") is not None:
        timeout = duration(config["timeout"])
        happened = _event_since(items, config["until_event"])
        for item in items:
            if happened.get(item.profile_id) and happened[item.profile_id] >= item.step_since:
                moves[item.pk] = go("event")
            elif batch.now >= item.step_since + timeout:
                moves[item.pk] = go("timeout")
            else:
                moves[item.pk] = wait_until(item.step_since + timeout)
        for item in items:
            if moves[item.pk].kind == "next":
                batch.run(item, step, outcome=moves[item.pk].outcome)
        return moves
    if config.get("duration") is not None:
        delta = duration(config["duration"])
        targets = {item.pk: item.step_since + delta for item in items}
    else:
        until = config["until"]
        at, weekdays = clock(until["time"]), set(until.get("weekdays", range(7)))
        zones = dict(
            Profile.objects.filter(pk__in=[i.profile_id for i in items]).values_list(
                "pk", "traits__timezone"
            )
        )
        targets = {
            item.pk: next_weekday_time(
                item.step_since, weekdays, at, _zone(zones.get(item.profile_id))
            )
            for item in items
        }
    for item in items:
        if batch.now >= targets[item.pk]:
            batch.run(item, step)
            moves[item.pk] = NEXT
        else:
            moves[item.pk] = wait_until(targets[item.pk])
    return moves


def branch_step(
    batch: Batch, version: Version, step, items: list[Item], existing
) -> dict[int, Move]:
    """Send each enrollment down "yes" or "no" by the step's rule, one query for the group."""
    matching = profiles_matching(
        step.config["rule"],
        [item.profile_id for item in items],
        campaigns=version.campaign_slugs,
        now=batch.now,
    )
    moves = {}
    for item in items:
        outcome = "yes" if item.profile_id in matching else "no"
        batch.run(item, step, outcome=outcome)
        moves[item.pk] = go(outcome)
    return moves


def split_bucket(enrollment_id: int, step_key: str) -> int:
    """Return the enrollment's stable position 0..99 in a split."""
    digest = hashlib.sha256(f"{enrollment_id}:{step_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_step(
    batch: Batch, version: Version, step, items: list[Item], existing
) -> dict[int, Move]:
    """Send each enrollment down one path, at random by the paths' percentages (stable)."""
    bounds, total = [], 0
    for name, percent in step.config["percents"].items():
        total += percent
        bounds.append((total, name))
    moves = {}
    for item in items:
        bucket = split_bucket(item.pk, step.key)
        outcome = next(name for bound, name in bounds if bucket < bound)
        control = outcome == step.config.get("control")
        batch.run(item, step, outcome=outcome, detail={"control": True} if control else None)
        moves[item.pk] = go(outcome)
    return moves


def update_step(
    batch: Batch, version: Version, step, items: list[Item], existing
) -> dict[int, Move]:
    """Add or remove tags (provenance ``flow``) and set traits on the group's profiles."""
    from flows.sql import traits_merge
    from profiles.services.tags import profiles_tag, profiles_untag

    config = step.config
    ids = [item.profile_id for item in items]
    profiles = Profile.objects.filter(pk__in=ids)
    missing = []
    for action, slugs in (
        ("add", config.get("add_tags") or []),
        ("remove", config.get("remove_tags") or []),
    ):
        for slug in slugs:
            tag = Tag.objects.filter(slug=slug).first()
            if tag is None:
                missing.append(slug)
            elif action == "add":
                profiles_tag(profiles_qs=profiles, tag=tag, user=None, provenance=Provenance.FLOW)
            else:
                profiles_untag(profiles_qs=profiles, tag=tag)
    traits_merge(profile_ids=ids, traits=config.get("set_traits") or {})
    for item in items:
        batch.run(item, step, detail={"missing_tags": missing} if missing else None)
    return {item.pk: NEXT for item in items}


def webhook_step(
    batch: Batch, version: Version, step, items: list[Item], existing
) -> dict[int, Move]:
    """Queue the webhook call of each enrollment; it waits (parked) for the answer."""
    from flows.tasks import flow_webhook_task

    moves = {}
    for item in items:
        run = existing.get(item.pk)
        if run is None:
            batch.run(item, step, status=StepRun.Status.PENDING)
        if run is None or run.status == StepRun.Status.PENDING:
            pk = item.pk
            batch.later(f"webhook:{pk}", lambda pk=pk: flow_webhook_task.delay(pk, step.key))
        moves[item.pk] = PARK
    return moves


def exit_step(batch: Batch, version: Version, step, items: list[Item], existing) -> dict[int, Move]:
    """End the enrollments here."""
    for item in items:
        batch.run(item, step)
    return {item.pk: Move("finish", reason="exit_step") for item in items}


HANDLERS = {
    "send": send_step,
    "wait": wait_step,
    "branch": branch_step,
    "split": split_step,
    "update_profile": update_step,
    "webhook": webhook_step,
    "exit": exit_step,
}
