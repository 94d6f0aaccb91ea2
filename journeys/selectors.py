"""Reads about journey stages: the stage list, a profile's history, the funnel and its cohorts.

Funnel semantics (identical on SQLite and PostgreSQL):

- A profile *reached* a stage when its current stage is that stage or a later one (stages are
  sticky, see ``journeys.services``), so each stage's count includes the stages after it.
- Conversion from one stage to the next is the next stage's reached count over this one's.
- The time to reach a stage is taken from the transitions: a profile reached stage X at its
  first transition into X or a later stage. The time between two consecutive stages A → B is,
  for every profile that reached B, (reached B) - (reached A), in whole seconds (0 for a profile
  that skipped A and so reached both at once). The median is ``percentile_cont(0.5)`` on
  PostgreSQL and the same value (the middle one, or the mean of the two middle ones) by an
  ORDER BY … LIMIT/OFFSET on SQLite: exact on both, no sampling.
- Cohorts group profiles by the month of ``signup_at`` in the configured time zone; each cell is
  the share of that month's sign-ups that reached the stage.
- Filters: members of a segment (its stored membership), the acquisition channel
  (``Profile.channel``: a property of the profile, so the funnel stays a partition of profiles,
  unlike an event touchpoint that one profile has many of) and a range of sign-up dates (local
  days, both included).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from core.sql import select_sql
from journeys.models import JourneyStage, StageTransition
from journeys.sql import median_seconds
from profiles.models import Profile
from segments import rules
from segments.compiler import compile_rule
from segments.selectors import segment_rule


def stage_positions() -> dict[str, int]:
    """Return every stage's position by slug, active or not (what "reached" compares)."""
    return dict(JourneyStage.objects.values_list("slug", "position"))


def stage_names(slugs) -> dict[str, str]:
    """Return the name of each stage among ``slugs`` (the segment portrait's stage labels)."""
    rows = JourneyStage.objects.filter(slug__in=list(slugs)).values_list("slug", "name")
    return {slug: name or slug for slug, name in rows}


def stages_all() -> QuerySet[JourneyStage]:
    """Return every stage in journey order."""
    return JourneyStage.objects.order_by("position")


def stages_active() -> list[JourneyStage]:
    """Return the active stages in journey order."""
    return list(JourneyStage.objects.filter(active=True).order_by("position"))


def stage_get(*, slug: str) -> JourneyStage:
    """Return the stage ``slug`` or raise JourneyStage.DoesNotExist."""
    return JourneyStage.objects.get(slug=slug)


def _reached(counts: dict[str, int], positions: dict[str, int], position: int) -> int:
    return sum(n for slug, n in counts.items() if positions.get(slug, -1) >= position)


def stages_with_counts() -> list[dict]:
    """Return every stage in order with how many profiles are at it and how many reached it."""
    positions = stage_positions()
    counts = dict(Profile.objects.order_by().values_list("stage").annotate(n=Count("pk")))
    return [
        {
            "stage": stage,
            "current": counts.get(stage.slug, 0),
            "reached": _reached(counts, positions, stage.position),
        }
        for stage in stages_all()
    ]


def profile_stage_history(*, profile: Profile, limit: int = 100) -> list[dict]:
    """Return the profile's stage moves, latest first, with the stages' names."""
    names = dict(JourneyStage.objects.values_list("slug", "name"))
    rows = (
        StageTransition.objects.filter(profile=profile)
        .order_by("-at", "-pk")
        .values_list("from_stage_id", "to_stage_id", "at")[:limit]
    )
    return [
        {"from": names.get(source, source or ""), "to": names.get(target, target), "at": at}
        for source, target, at in rows
    ]


def profile_journey(*, profile: Profile) -> dict:
    """Return the profile's current stage (None before any), when it entered it, its history."""
    return {
        "stage": JourneyStage.objects.filter(slug=profile.stage).first() if profile.stage else None,
        "stage_entered_at": profile.stage_entered_at,
        "stage_history": profile_stage_history(profile=profile),
    }


def stage_entries_after(
    *, after_id: int, stage: str | None = None, limit: int = 10_000
) -> list[dict]:
    """Return the stage entries logged after transition ``after_id``, in the order written.

    This is the trigger feed: a reader remembering the last ``id`` it handled sees every entry
    once (ids only grow; rows are never changed except by a profile merge).
    """
    rows = StageTransition.objects.filter(pk__gt=after_id)
    if stage:
        rows = rows.filter(to_stage_id=stage)
    return list(
        rows.order_by("pk").values("id", "profile_id", "from_stage_id", "to_stage_id", "at")[:limit]
    )


# The funnel -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelFilters:
    """Which profiles the funnel counts: all of them unless narrowed."""

    segment: str = ""
    channel: str = ""
    signup_from: datetime.date | None = None
    signup_to: datetime.date | None = None

    def as_dict(self) -> dict:
        return {
            "segment": self.segment,
            "channel": self.channel,
            "signup_from": self.signup_from.isoformat() if self.signup_from else None,
            "signup_to": self.signup_to.isoformat() if self.signup_to else None,
        }


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=timezone.get_default_timezone())


def funnel_profiles(filters: FunnelFilters) -> QuerySet[Profile]:
    """Return the profiles the filters select; raise RuleError for an unknown segment."""
    profiles = Profile.objects.all()
    if filters.segment:
        tree = rules.parse_rule({"segment": filters.segment}, resolve=segment_rule)
        profiles = profiles.filter(compile_rule(tree))
    if filters.channel:
        profiles = profiles.filter(channel=filters.channel)
    if filters.signup_from:
        profiles = profiles.filter(signup_at__gte=_local_midnight(filters.signup_from))
    if filters.signup_to:
        end = _local_midnight(filters.signup_to + datetime.timedelta(days=1))
        profiles = profiles.filter(signup_at__lt=end)
    return profiles


def _narrowed(filters: FunnelFilters) -> bool:
    return filters != FunnelFilters()


def _transitions(filters: FunnelFilters) -> QuerySet[StageTransition]:
    transitions = StageTransition.objects.all()
    if _narrowed(filters):
        transitions = transitions.filter(profile__in=funnel_profiles(filters).values("pk"))
    return transitions


def funnel(filters: FunnelFilters | None = None) -> dict:
    """Return the funnel over the active stages: reached counts, conversions, median times.

    ``profiles`` is how many profiles the filters select; each stage has ``reached``,
    ``share`` (of those profiles), ``conversion`` (from the previous stage; None for the first
    or when the previous stage was reached by nobody) and ``median_seconds`` (from the previous
    stage; None when nobody made that step or for the first stage).
    """
    filters = filters or FunnelFilters()
    profiles = funnel_profiles(filters)
    positions = stage_positions()
    counts = dict(profiles.order_by().values_list("stage").annotate(n=Count("pk")))
    total = sum(counts.values())
    stages = stages_active()
    medians = _median_seconds(stages, positions, filters)
    rows, previous = [], None
    for index, stage in enumerate(stages):
        reached = _reached(counts, positions, stage.position)
        rows.append(
            {
                "slug": stage.slug,
                "name": stage.name,
                "position": stage.position,
                "current": counts.get(stage.slug, 0),
                "reached": reached,
                "share": reached / total if total else None,
                "conversion": reached / previous if previous else None,
                "median_seconds": medians[index],
            }
        )
        previous = reached
    return {"filters": filters.as_dict(), "profiles": total, "stages": rows}


def _beyond(positions: dict[str, int], position: int) -> list[str]:
    return [slug for slug, at in positions.items() if at >= position]


def _median_seconds(
    stages: list[JourneyStage], positions: dict[str, int], filters: FunnelFilters
) -> list[float | None]:
    """Return, per stage, the median seconds from reaching the previous stage to reaching it."""
    if len(stages) < 2:
        return [None] * len(stages)
    reached_at = {
        f"r{index}": Min("at", filter=Q(to_stage_id__in=_beyond(positions, stage.position)))
        for index, stage in enumerate(stages)
    }
    per_profile = _transitions(filters).order_by().values("profile_id").annotate(**reached_at)
    select, params = select_sql(per_profile)
    return [None] + [
        median_seconds(select, params, f"r{index - 1}", f"r{index}")
        for index in range(1, len(stages))
    ]


def funnel_cohorts(filters: FunnelFilters | None = None) -> list[dict]:
    """Return, per sign-up month (oldest first), the sign-ups and the share reaching each stage.

    Each row: ``month`` ("2024-01"), ``signups``, ``reached`` and ``share`` (lists in the order of
    the active stages). Profiles without a sign-up date are left out.
    """
    filters = filters or FunnelFilters()
    positions = stage_positions()
    stages = stages_active()
    by_month: dict[str, dict[str, int]] = {}
    rows = (
        funnel_profiles(filters)
        .exclude(signup_at=None)
        .annotate(month=TruncMonth("signup_at", tzinfo=timezone.get_default_timezone()))
        .order_by()
        .values_list("month", "stage")
        .annotate(n=Count("pk"))
    )
    for month, stage, n in rows:
        by_month.setdefault(month.strftime("%Y-%m"), {})[stage] = n
    cohorts = []
    for month in sorted(by_month):
        counts = by_month[month]
        signups = sum(counts.values())
        reached = [_reached(counts, positions, stage.position) for stage in stages]
        cohorts.append(
            {
                "month": month,
                "signups": signups,
                "reached": reached,
                "share": [n / signups for n in reached],
            }
        )
    return cohorts


def stage_trend(
    filters: FunnelFilters | None = None, *, weeks: int = 26, now: datetime.datetime | None = None
) -> list[dict]:
    """Return how many profiles entered each stage per week (Monday, local) in the last weeks.

    Rows hold ``week`` (a date), ``stage`` (slug) and ``n``, oldest first.
    """
    filters = filters or FunnelFilters()
    since = (now or timezone.now()) - datetime.timedelta(weeks=weeks)
    rows = (
        _transitions(filters)
        .filter(at__gte=since)
        .annotate(week=TruncWeek("at", tzinfo=timezone.get_default_timezone()))
        .order_by()
        .values_list("week", "to_stage_id")
        .annotate(n=Count("pk"))
    )
    return sorted(
        ({"week": week.date(), "stage": stage, "n": n} for week, stage, n in rows),
        key=lambda row: (row["week"], row["stage"]),
    )


def acquisition_channels(*, limit: int = 100) -> list[str]:
    """Return up to ``limit`` distinct non-empty acquisition channels (for the funnel filter)."""
    channels = Profile.objects.exclude(channel="").order_by("channel").values_list("channel")
    return [channel for (channel,) in channels.distinct()[:limit]]


# The dashboard ----------------------------------------------------------------------------------
#
# Each block is an aggregate over up to millions of rows, so the page never computes it while a
# user waits, except the very first time: blocks live in Django's cache (shared by web and worker
# processes: a file cache under var/ by default, Redis with CACHE_URL) together with a cheap
# fingerprint of their tables, the newest primary key (one index lookup) in steps of 0.01-0.1 % of
# it past 100,000 rows. The page serves what is cached; beat runs ``dashboard_refresh`` every
# DASHBOARD_REFRESH_SECONDS, which recomputes the blocks whose fingerprint moved (and all of them
# every DASHBOARD_CACHE_SECONDS, for changes to existing rows such as refreshed features).


def _newest(model) -> int:
    newest = model.objects.aggregate(last=Max("pk"))["last"] or 0
    if newest < 100_000:
        return newest
    step = 10 ** (len(str(newest)) - 4)
    return newest // step * step


def _fingerprints() -> dict[str, Callable]:
    from campaigns.selectors import campaigns_fingerprint
    from predictions.selectors import predictions_fingerprint
    from profiles.models import Event, ProfileTag
    from segments.models import Segment, SegmentRun

    return {
        "totals": lambda: _newest(Profile),
        "events": lambda: _newest(Event),
        "rfm": lambda: _newest(Profile),
        "tags": lambda: _newest(ProfileTag),
        "segments": lambda: f"{_newest(Segment)}-{_newest(SegmentRun)}",
        "funnel": lambda: f"{_newest(Profile)}-{_newest(StageTransition)}-{_newest(JourneyStage)}",
        "campaigns": campaigns_fingerprint,
        "predictions": predictions_fingerprint,
    }


def _computers() -> dict[str, Callable]:
    from campaigns.selectors import campaigns_recent_results
    from predictions.selectors import churn_value_matrix
    from profiles import selectors as profile_selectors

    return {
        "totals": lambda: profile_selectors.profile_totals(days=30),
        "events": lambda: profile_selectors.events_per_day(days=30),
        "rfm": profile_selectors.profiles_rfm_distribution,
        "tags": lambda: profile_selectors.tag_coverage(limit=15),
        "segments": segments_largest_with_trend,
        "funnel": lambda: [
            {"slug": row["stage"].slug, "name": row["stage"].name, "reached": row["reached"]}
            for row in stages_with_counts()
            if row["stage"].active
        ],
        "campaigns": lambda: campaigns_recent_results(limit=5),
        "predictions": churn_value_matrix,
    }


DASHBOARD_BLOCKS = (
    "totals",
    "events",
    "rfm",
    "tags",
    "segments",
    "funnel",
    "campaigns",
    "predictions",
)


def _key(block: str) -> str:
    return f"dashboard:v2:{block}"


def dashboard_data(*, timings: dict | None = None) -> dict:
    """Return every dashboard block from the cache, computing only the blocks never cached.

    ``timings`` gets seconds per block.
    """
    from django.core.cache import cache

    computers = _computers()
    cached = cache.get_many([_key(block) for block in DASHBOARD_BLOCKS])
    data = {}
    for block in DASHBOARD_BLOCKS:
        started = time.perf_counter()
        entry = cached.get(_key(block))
        data[block] = entry["value"] if entry else _store(block, computers[block]())
        if timings is not None:
            timings[block] = time.perf_counter() - started
    return data


def _store(block: str, value, fingerprint=None):
    from django.core.cache import cache

    if fingerprint is None:
        fingerprint = _fingerprints()[block]()
    entry = {"value": value, "fingerprint": fingerprint, "at": time.time()}
    cache.set(_key(block), entry, timeout=None)
    return value


def dashboard_refresh(*, force: bool = False) -> list[str]:
    """Recompute the cached blocks whose tables changed or that are older than the cache period.

    Return the names of the blocks recomputed (beat runs this; see above).
    """
    from django.conf import settings
    from django.core.cache import cache

    fingerprints, computers = _fingerprints(), _computers()
    cached = cache.get_many([_key(block) for block in DASHBOARD_BLOCKS])
    done = []
    for block in DASHBOARD_BLOCKS:
        entry = cached.get(_key(block))
        fingerprint = fingerprints[block]()
        stale = (
            force
            or entry is None
            or entry["fingerprint"] != fingerprint
            or time.time() - entry["at"] >= settings.DASHBOARD_CACHE_SECONDS
        )
        if stale:
            _store(block, computers[block](), fingerprint)
            done.append(block)
    return done


def dashboard_cache_clear() -> None:
    """Forget the cached dashboard blocks."""
    from django.core.cache import cache

    cache.delete_many([_key(block) for block in DASHBOARD_BLOCKS])


def segments_largest_with_trend(*, limit: int = 8, days: int = 90) -> list[dict]:
    """Return the largest segments (by last evaluated size) with their size after each run.

    Rows hold ``slug``, ``name``, ``size`` and ``trend`` (``at``, ``size`` of the finished runs
    of the last ``days`` days, oldest first).
    """
    from segments.models import Segment, SegmentRun

    segments = list(
        Segment.objects.order_by("-size", "name").values("pk", "slug", "name", "size")[:limit]
    )
    since = timezone.now() - datetime.timedelta(days=days)
    runs = (
        SegmentRun.objects.filter(
            segment_id__in=[segment["pk"] for segment in segments],
            finished_at__gte=since,
            size__isnull=False,
        )
        .order_by("finished_at")
        .values_list("segment_id", "finished_at", "size")
    )
    trends: dict[int, list[dict]] = {}
    for segment_id, at, size in runs:
        trends.setdefault(segment_id, []).append({"at": at, "size": size})
    return [
        {
            "slug": segment["slug"],
            "name": segment["name"],
            "size": segment["size"],
            "trend": trends.get(segment["pk"], []),
        }
        for segment in segments
    ]
