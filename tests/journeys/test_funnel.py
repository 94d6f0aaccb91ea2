"""The funnel, its conversions, median times and cohorts equal the ones worked out by hand.

Six profiles walk the journey visit (10) → buy (20) → rebuy (30); refreshes run at T0 (a
Monday), +1, +2, +3 and +7 days:

    profile  signed up   channel  moves                                   final
    a        2024-01-10  wechat   visit T0, buy T0+2d, rebuy T0+7d          rebuy
    b        2024-01-20  organic  visit T0, buy T0+1d                       buy
    c        2024-02-05  wechat   visit T0                                  visit
    d        2024-02-15  organic  —                                         —
    e        2024-02-25  wechat   rebuy T0 (two purchases: skips two stages) rebuy
    f        2024-03-03  organic  visit T0, buy T0+3d                       buy
"""

import datetime
import statistics

import pytest

from journeys import charts
from journeys.models import StageTransition
from journeys.selectors import (
    FunnelFilters,
    funnel,
    funnel_cohorts,
    stage_positions,
    stage_trend,
)
from journeys.services import stages_refresh
from profiles.models import Profile
from segments.models import Segment, SegmentMembership
from segments.rules import RuleError
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2024, 6, 3, 4, 0, tzinfo=datetime.UTC)  # Monday 12:00 in Shanghai
DAY = 86400.0
HOUR = datetime.timedelta(hours=1)


def at(days: float) -> datetime.datetime:
    return T0 + datetime.timedelta(days=days)


def signed_up(day: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(f"{day}T10:00:00+08:00")


@pytest.fixture
def walked(journey):
    people = {
        "a": ("2024-01-10", "wechat"),
        "b": ("2024-01-20", "organic"),
        "c": ("2024-02-05", "wechat"),
        "d": ("2024-02-15", "organic"),
        "e": ("2024-02-25", "wechat"),
        "f": ("2024-03-03", "organic"),
    }
    p = {
        key: ProfileFactory(external_id=key, signup_at=signed_up(day), channel=channel)
        for key, (day, channel) in people.items()
    }
    for key in "abcf":
        EventFactory(profile=p[key], occurred_at=at(0) - HOUR)
    PurchaseFactory(profile=p["a"], occurred_at=at(2) - HOUR)
    PurchaseFactory(profile=p["a"], occurred_at=at(7) - HOUR)
    PurchaseFactory(profile=p["b"], occurred_at=at(1) - HOUR)
    PurchaseFactory(profile=p["e"], occurred_at=at(0) - HOUR)
    PurchaseFactory(profile=p["e"], occurred_at=at(0) - 2 * HOUR)
    PurchaseFactory(profile=p["f"], occurred_at=at(3) - HOUR)
    for days in (0, 1, 2, 3, 7):
        stages_refresh(now=at(days))
    return p


def by_slug(result: dict) -> dict:
    return {row["slug"]: row for row in result["stages"]}


def test_the_walk_gives_the_stages_worked_out_by_hand(walked):
    final = dict(Profile.objects.values_list("external_id", "stage"))

    assert final == {"a": "rebuy", "b": "buy", "c": "visit", "d": "", "e": "rebuy", "f": "buy"}


def test_the_funnel_counts_conversions_and_median_times(walked):
    result = funnel()

    stages = by_slug(result)
    assert result["profiles"] == 6
    assert [stages[s]["reached"] for s in ("visit", "buy", "rebuy")] == [5, 4, 2]
    assert [stages[s]["current"] for s in ("visit", "buy", "rebuy")] == [1, 2, 2]
    assert stages["visit"]["share"] == pytest.approx(5 / 6)
    assert stages["visit"]["conversion"] is None
    assert stages["buy"]["conversion"] == pytest.approx(4 / 5)
    assert stages["rebuy"]["conversion"] == pytest.approx(2 / 4)
    # visit → buy: a 2 d, b 1 d, e 0 (skipped), f 3 d → median of 0, 1, 2, 3 days = 1.5 days
    assert stages["visit"]["median_seconds"] is None
    assert stages["buy"]["median_seconds"] == 1.5 * DAY
    # buy → rebuy: a 5 d, e 0 → 2.5 days
    assert stages["rebuy"]["median_seconds"] == 2.5 * DAY


def test_the_median_equals_pythons_over_the_logged_transitions(walked):
    positions = stage_positions()
    reached_at: dict[int, dict[str, datetime.datetime]] = {}
    for profile_id, to_stage, when in StageTransition.objects.values_list(
        "profile_id", "to_stage_id", "at"
    ):
        for slug, position in positions.items():
            if positions[to_stage] >= position:
                first = reached_at.setdefault(profile_id, {}).get(slug)
                reached_at[profile_id][slug] = min(first, when) if first else when

    durations = [
        (stages["buy"] - stages["visit"]).total_seconds()
        for stages in reached_at.values()
        if "buy" in stages
    ]

    assert by_slug(funnel())["buy"]["median_seconds"] == statistics.median(durations)


def test_the_cohort_table_is_the_one_worked_out_by_hand(walked):
    cohorts = funnel_cohorts()

    assert [(row["month"], row["signups"], row["reached"]) for row in cohorts] == [
        ("2024-01", 2, [2, 2, 1]),
        ("2024-02", 3, [2, 1, 1]),
        ("2024-03", 1, [1, 1, 0]),
    ]
    assert cohorts[1]["share"] == pytest.approx([2 / 3, 1 / 3, 1 / 3])


def test_the_funnel_narrows_to_a_channel(walked):
    stages = by_slug(funnel(FunnelFilters(channel="wechat")))

    assert [stages[s]["reached"] for s in ("visit", "buy", "rebuy")] == [3, 2, 2]
    assert stages["buy"]["median_seconds"] == 1.0 * DAY  # a 2 d, e 0
    assert stages["rebuy"]["median_seconds"] == 2.5 * DAY  # a 5 d, e 0


def test_the_funnel_narrows_to_a_range_of_signup_days(walked):
    filters = FunnelFilters(
        signup_from=datetime.date(2024, 2, 1), signup_to=datetime.date(2024, 2, 29)
    )

    result = funnel(filters)

    stages = by_slug(result)
    assert result["profiles"] == 3
    assert [stages[s]["reached"] for s in ("visit", "buy", "rebuy")] == [2, 1, 1]
    assert stages["buy"]["median_seconds"] == 0.0  # only e, who skipped visit
    assert [row["month"] for row in funnel_cohorts(filters)] == ["2024-02"]


def test_the_funnel_narrows_to_a_segments_members(walked):
    segment = Segment.objects.create(name="picked", slug="picked", kind=Segment.Kind.STATIC)
    for key in "bf":
        SegmentMembership.objects.create(segment=segment, profile=walked[key])

    stages = by_slug(funnel(FunnelFilters(segment="picked")))

    assert [stages[s]["reached"] for s in ("visit", "buy", "rebuy")] == [2, 2, 0]
    assert stages["buy"]["median_seconds"] == 2.0 * DAY  # b 1 d, f 3 d
    assert stages["rebuy"]["conversion"] == 0
    assert stages["rebuy"]["median_seconds"] is None
    with pytest.raises(RuleError):
        funnel(FunnelFilters(segment="nobody-here"))


def test_the_trend_counts_stage_entries_per_week(walked):
    rows = stage_trend(now=at(8))

    monday, next_monday = datetime.date(2024, 6, 3), datetime.date(2024, 6, 10)
    assert rows == [
        {"week": monday, "stage": "buy", "n": 3},
        {"week": monday, "stage": "rebuy", "n": 1},
        {"week": monday, "stage": "visit", "n": 4},
        {"week": next_monday, "stage": "rebuy", "n": 1},
    ]


def test_an_empty_funnel_has_no_ratios(journey):
    result = funnel()

    assert result["profiles"] == 0
    assert {(row["reached"], row["share"], row["conversion"]) for row in result["stages"]} == {
        (0, None, None)
    }
    assert funnel_cohorts() == []


def test_the_charts_draw_the_funnel_the_cohorts_and_the_trend(walked):
    result = funnel()
    names = [row["name"] for row in result["stages"]]

    funnel_fig = charts.funnel_figure(result["stages"], title="F")
    heat = charts.cohort_heatmap_figure(funnel_cohorts(), names, title="C", signups_label="n")
    trend = charts.stage_trend_figure(
        stage_trend(now=at(8)), {row["slug"]: row["name"] for row in result["stages"]}, title="T"
    )

    assert funnel_fig.data[0].type == "funnel"
    assert list(funnel_fig.data[0].x) == [5, 4, 2]
    assert heat.data[0].type == "heatmap"
    assert [list(row) for row in heat.data[0].z] == [
        [100.0, 100.0, 50.0],
        [66.7, 33.3, 33.3],
        [100.0, 100.0, 0.0],
    ]
    assert [trace.name for trace in trend.data] == names
    assert list(trend.data[0].y) == [4, 0]  # visit entries per week
