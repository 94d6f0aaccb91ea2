"""Journey stage operations: check and save stages, move profiles between stages set-based.

A profile's stage is the furthest (highest position) active stage whose entry rule it meets,
and stages are sticky: a profile only ever moves forward. A profile that met "repurchase" once
has repurchased, even when its purchases later fall out of a rule's time window; moving it
back would make the funnel forget what happened, and would make a campaign triggered by
entering a stage fire again each time the profile flapped across a window's edge.

Every move is one ``StageTransition`` row, written with INSERT … SELECT: the transitions table
with its increasing ids is the feed of "profile entered stage" events that triggered campaigns
read (``journeys.selectors.stage_entries_after``). A refresh that moved profiles tells
``journeys.hooks``' receivers how many, once it commits.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from journeys.conditions import StageCondition
from journeys.hooks import stage_changed_notify
from journeys.models import JourneyStage, StageTransition
from journeys.selectors import stage_positions
from journeys.sql import transitions_insert
from profiles.models import Profile
from segments import rules
from segments.compiler import compile_rule
from segments.selectors import segment_rule

ERROR_STAGE_IN_STAGE_RULE = _(
    "A stage's entry rule cannot use stage conditions: a profile's stage comes from these rules."
)
ERROR_POSITION_TAKEN = _("Stage “{stage}” already has position {position}; choose a free one.")

STAGES_JOB_KIND = "journeys.stages_refresh"
_PARKED = 32767  # a free position while two stages swap theirs

EVER = 36500  # days: the longest window a rule allows, "ever" for the default rules


def _count(event: str, at_least: int = 1, days: int = EVER) -> dict:
    return {"event": event, "within_days": days, "count": {"gte": at_least}}


# The default journey (PRODUCT.md), as the data migration 0002 seeds it.
DEFAULT_STAGES: list[dict] = [
    {
        "slug": "reach",
        "name": "触达 Reach",
        "rule": {"any": [_count("page_view"), _count("app_open"), _count("consultation")]},
    },
    {"slug": "first-purchase", "name": "成交 First purchase", "rule": _count("purchase")},
    {
        "slug": "active-use",
        "name": "使用 Active use",
        "rule": {
            "all": [
                _count("purchase"),
                {"any": [_count("app_open", 2, 180), _count("page_view", 3, 180)]},
            ]
        },
    },
    {
        "slug": "feedback",
        "name": "反馈 Feedback",
        "rule": {"all": [_count("purchase"), _count("feedback")]},
    },
    {"slug": "repurchase", "name": "复购 Repurchase", "rule": _count("purchase", 2)},
    {
        "slug": "referral",
        "name": "裂变 Referral",
        "rule": {"all": [_count("purchase"), _count("referral")]},
    },
]


def stages_ensure_defaults() -> int:
    """Create the default stages when no stage exists at all; return how many were created."""
    if JourneyStage.objects.exists():
        return 0
    JourneyStage.objects.bulk_create(
        JourneyStage(position=position, **stage) for position, stage in enumerate(DEFAULT_STAGES)
    )
    return len(DEFAULT_STAGES)


def _stage_paths(node: rules.Node, path: str):
    """Yield (path, node) for the stage conditions of a parsed rule."""
    if isinstance(node, StageCondition):
        yield path, node
    elif isinstance(node, rules.AllOf | rules.AnyOf):
        items = rules.key_path(path, "all" if isinstance(node, rules.AllOf) else "any")
        for i, child in enumerate(node.children):
            yield from _stage_paths(child, rules.index_path(items, i))
    elif isinstance(node, rules.Not):
        yield from _stage_paths(node.condition, rules.key_path(path, "not"))


def stage_rule_check(rule: Mapping) -> rules.Node:
    """Return the parsed entry rule or raise RuleError naming the offending node.

    The rule is the segment rule format, checked against the stored segments; a stage
    condition is refused (a stage cannot be defined by stages).
    """
    tree = rules.parse_rule(rule, resolve=segment_rule)
    for path, _node in _stage_paths(tree, ""):
        raise rules.RuleError(path, ERROR_STAGE_IN_STAGE_RULE)
    return tree


STAGE_FIELDS = ("slug", "name", "position", "rule", "active")


def stage_save(*, stage: JourneyStage | None = None, data: dict) -> JourneyStage:
    """Create or update a stage from ``data``; an existing stage keeps its slug.

    Moving a stage to a position another stage holds swaps the two positions. Profiles keep
    their stage; the next refresh moves them forward under the new configuration.
    """
    creating = stage is None
    stage = stage or JourneyStage()
    previous = None if creating else JourneyStage.objects.get(pk=stage.pk).position
    for name in STAGE_FIELDS:
        if name in data and not (name == "slug" and not creating):
            setattr(stage, name, data[name])
    stage.full_clean(exclude=["position"])
    with transaction.atomic():
        holder = JourneyStage.objects.filter(position=stage.position).exclude(pk=stage.pk).first()
        if holder is not None and creating:
            raise ValidationError(
                {
                    "position": str(ERROR_POSITION_TAKEN).format(
                        stage=holder, position=stage.position
                    )
                }
            )
        if holder is not None:
            JourneyStage.objects.filter(pk=holder.pk).update(position=_PARKED)
        stage.save()
        if holder is not None:
            JourneyStage.objects.filter(pk=holder.pk).update(position=previous)
    return stage


def _stage_move(stage: JourneyStage, condition, positions: dict[str, int], now) -> int:
    """Move the profiles meeting ``condition`` and not yet at or beyond ``stage``; return how many.

    The moves are logged as transitions with one INSERT … SELECT, then the profiles' stage is set.
    """
    beyond = [slug for slug, position in positions.items() if position >= stage.position]
    moving = (
        Profile.objects.filter(condition)
        .exclude(stage__in=beyond)
        .annotate(moving_id=F("pk"), moving_from=F("stage"))
        .values("moving_id", "moving_from")
    )
    last_id = StageTransition.objects.order_by("-pk").values_list("pk", flat=True).first()
    moved = transitions_insert(moving, known=list(positions), to_stage=stage.slug, at=now)
    if moved:
        entered = StageTransition.objects.filter(
            pk__gt=last_id or 0, to_stage_id=stage.slug
        ).values("profile_id")
        Profile.objects.filter(pk__in=entered).update(stage=stage.slug, stage_entered_at=now)
    return moved


def stages_refresh(
    *, now: datetime.datetime | None = None, report: Callable[[int, int], None] | None = None
) -> dict:
    """Move every profile forward to the furthest active stage whose entry rule it meets.

    One INSERT … SELECT per stage, furthest stage first, logs the moves as transitions (from the
    profile's current stage), then one UPDATE sets the profiles' stage and when they entered it.
    Profiles already at or beyond a stage are left out of its query, so a second run with the
    same data writes nothing. A stage whose rule no longer parses (a segment it named was
    deleted) is skipped and reported under ``errors``; the other stages still move.
    """
    now = now or timezone.now()
    started = time.perf_counter()
    moved: dict[str, int] = {}
    errors: dict[str, str] = {}
    with transaction.atomic():
        # Lock the stages: two refreshes at once run one after the other (PostgreSQL).
        stages = list(JourneyStage.objects.select_for_update().order_by("-position"))
        positions = {stage.slug: stage.position for stage in stages}
        active = [stage for stage in stages if stage.active]
        for done, stage in enumerate(active):
            if report:
                report(done, len(active))
            try:
                tree = stage_rule_check(stage.rule)
                condition = compile_rule(tree, now=now)
            except rules.RuleError as error:
                errors[stage.slug] = str(error)
                continue
            moved[stage.slug] = _stage_move(stage, condition, positions, now)
        if any(moved.values()):
            stage_changed_notify(sum(moved.values()))
    if report:
        report(len(active), len(active))
    return {
        "moved": sum(moved.values()),
        "by_stage": moved,
        "errors": errors,
        "as_of": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 3),
    }


def stage_triggers_process(*, limit: int = 5000) -> int:
    """Give the campaigns triggered by entering a stage the profiles that entered it since.

    Each sending campaign with a ``trigger_stage`` keeps its cursor (the last StageTransition id
    handled) in ``trigger_cursor``; it starts at the last transition before the campaign started,
    so only profiles entering afterwards get the message. The cursor moves in the same
    transaction as the ledger rows, with the campaign row locked, so each entry is handled once.
    Return the ledger rows added.
    """
    from campaigns.models import Campaign
    from campaigns.services.audience import campaign_profiles_add

    added = 0
    campaigns = Campaign.objects.filter(
        kind=Campaign.Kind.TRIGGERED, status=Campaign.Status.SENDING, trigger_segment__isnull=True
    ).exclude(trigger_stage="")
    for campaign_id in campaigns.values_list("pk", flat=True):
        while True:
            with transaction.atomic():
                campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
                if campaign.trigger_cursor == 0 and campaign.started_at:
                    before = StageTransition.objects.filter(at__lte=campaign.started_at)
                    campaign.trigger_cursor = (
                        before.order_by("-pk").values_list("pk", flat=True).first() or 0
                    )
                entries = list(
                    StageTransition.objects.filter(
                        pk__gt=campaign.trigger_cursor, to_stage__slug=campaign.trigger_stage
                    )
                    .order_by("pk")
                    .values_list("pk", "profile_id")[:limit]
                )
                if entries:
                    added += campaign_profiles_add(
                        campaign=campaign, profile_ids=[profile for _pk, profile in entries]
                    )
                    campaign.trigger_cursor = entries[-1][0]
                Campaign.objects.filter(pk=campaign.pk).update(
                    trigger_cursor=campaign.trigger_cursor
                )
            if len(entries) < limit:
                break
    return added


def stages_backfill(
    *, start: datetime.datetime, end: datetime.datetime, every_days: int = 30
) -> int:
    """Replay the refresh as of every ``every_days`` from ``start`` to ``end``; return the moves.

    Rules only count events up to their ``now``, so each replay moves profiles as a refresh at
    that moment would have: stage history with realistic dates (for demo data).
    """
    moved = 0
    at = start
    while at < end:
        moved += stages_refresh(now=at)["moved"]
        at += datetime.timedelta(days=every_days)
    return moved + stages_refresh(now=end)["moved"]


def stages_job(*, job, report) -> dict:
    """Run the stage refresh as a background job (the button on the stages page)."""
    return stages_refresh(report=lambda done, total: report(done, total))


def stage_transitions_move(*, source: Profile, target: Profile) -> int:
    """Move a merged profile's stage history to the kept profile, which keeps the further stage."""
    positions = stage_positions()
    here = positions.get(target.stage, -1)
    there = positions.get(source.stage, -1)
    if there > here:
        # On the row and on the object too: the merge saves the target after the movers.
        target.stage, target.stage_entered_at = source.stage, source.stage_entered_at
        Profile.objects.filter(pk=target.pk).update(
            stage=source.stage, stage_entered_at=source.stage_entered_at
        )
    return StageTransition.objects.filter(profile=source).update(profile=target)
