"""The plan of a rule: its candidates, the choice from the database's estimates, forcing a plan."""

import datetime
import zoneinfo

import pytest
from django.db import connection

from profiles.models import ConsentSource, Event, Profile
from profiles.services.consent import ConsentEntry, consent_record
from segments.compiler import (
    CORRELATED,
    GROUPED,
    candidates_q,
    plan_choose,
    rule_candidates,
    rule_matching,
    shared_candidates,
    shared_measures,
)
from segments.compiler.expressions import Env
from segments.compiler.planning import ERROR_PLAN, PROBE_ROWS
from segments.models import Segment, SegmentMembership
from segments.rules import parse_rule
from segments.services import segments_evaluate_many, shared_measures_drop, shared_measures_fill
from tests.factories import ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
TWO_PURCHASES = {"event": "purchase", "within_days": 30, "count": {"gte": 2}}
VIP_BUYERS = {"all": [{"tag": "vip", "op": "has"}, TWO_PURCHASES]}
BUYERS = {"all": [TWO_PURCHASES]}
IN_SHANGHAI = {"attr": "city", "op": "eq", "value": "上海"}
SHANGHAI_BUYERS = {"all": [IN_SHANGHAI, TWO_PURCHASES]}
HIGH_TIER = {"attr": "value_tier", "op": "eq", "value": "high"}


def purchases(profile, count: int, start: int = 0) -> None:
    Event.objects.bulk_create(
        Event(
            profile=profile,
            name="purchase",
            occurred_at=NOW - datetime.timedelta(days=1, minutes=i),
            key=f"{profile.external_id}-{start + i}",
        )
        for i in range(count)
    )


@pytest.fixture
def shop():
    """Three profiles; one carries "vip" and bought twice; another bought many times."""
    vip, busy, idle = (ProfileFactory(city=city) for city in ("上海", "北京", "上海"))
    ProfileTagFactory(profile=vip, tag=TagFactory(slug="vip"))
    purchases(vip, 2)
    purchases(busy, 10 * PROBE_ROWS)
    if connection.vendor == "postgresql":  # the planner's statistics, as autovacuum keeps them
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE profiles_profile, profiles_event, profiles_profiletag")
    return {"vip": vip, "busy": busy, "idle": idle}


def ids(condition) -> set[int]:
    return set(Profile.objects.filter(condition).values_list("pk", flat=True))


def test_the_candidates_are_what_the_cheap_conditions_leave(shop):
    env = Env(now=NOW, tz=SHANGHAI)
    rule = parse_rule(
        {
            "all": [
                IN_SHANGHAI,
                {"any": [{"tag": "vip", "op": "has"}, HIGH_TIER]},
                TWO_PURCHASES,
            ]
        }
    )  # fmt: skip

    found = candidates_q(rule, env)

    assert ids(found) == {shop["vip"].pk}


def test_a_trait_in_an_estimate_selects_the_same_candidates(shop):
    Profile.objects.filter(pk__in=[shop["idle"].pk, shop["busy"].pk]).update(
        traits={"level": "gold"}
    )
    spent = {"event": "purchase", "within_days": 30, "sum": "amount", "value": {"gte": 0}}
    rule = parse_rule(
        {"all": [{"attr": "traits.level", "op": "in", "value": ["gold", 1]}, IN_SHANGHAI, spent]}
    )
    estimating = Env(now=NOW, tz=SHANGHAI, estimating=True)  # containment on PostgreSQL

    assert ids(candidates_q(rule, estimating)) == {shop["idle"].pk}
    assert ids(candidates_q(rule, Env(now=NOW, tz=SHANGHAI))) == {shop["idle"].pk}


def test_an_any_group_with_a_branch_on_events_alone_leaves_everyone_a_candidate(shop):
    env = Env(now=NOW, tz=SHANGHAI)

    anyone = candidates_q(parse_rule({"any": [{"tag": "vip", "op": "has"}, TWO_PURCHASES]}), env)
    not_buyers = candidates_q(parse_rule({"not": TWO_PURCHASES}), env)

    assert anyone is None
    assert not_buyers is None


def test_few_candidates_against_many_events_choose_the_correlated_plan(shop):
    choice = plan_choose(parse_rule(VIP_BUYERS), now=NOW, plan="auto")

    assert choice.plan == CORRELATED
    assert choice.candidates < choice.profiles
    assert choice.correlated_cost < choice.grouped_cost


def test_a_rule_without_cheap_conditions_chooses_the_grouped_scan(shop):
    for profile in ProfileFactory.create_batch(40):  # many buyers of a few purchases each
        purchases(profile, 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE profiles_profile, profiles_event")

    choice = plan_choose(parse_rule(BUYERS), now=NOW, plan="auto")

    assert choice.plan == GROUPED
    assert choice.candidates > choice.profiles / 2  # everyone but who refused profiling
    assert choice.profiles > 40
    assert choice.correlated_cost >= choice.grouped_cost


def test_a_rule_without_counts_or_sums_has_nothing_to_choose(shop):
    bought = {"event": "purchase", "within_days": 7, "count": {"gte": 1}}
    rule = parse_rule({"all": [{"tag": "vip", "op": "has"}, bought]})

    choice = plan_choose(rule, now=NOW, plan="auto")

    assert choice.as_dict() == {"plan": GROUPED, "hashed": ["purchase/7"]}
    assert choice.hashed == {("purchase", 7)}  # a few rows: hashed, even inside an "any"


@pytest.mark.parametrize("plan", [GROUPED, CORRELATED])
def test_a_forced_plan_is_used_and_selects_the_same_members(shop, plan, settings):
    settings.SEGMENT_PLAN = plan

    matching, choice = rule_matching(parse_rule(VIP_BUYERS), now=NOW)

    assert choice.plan == plan
    assert {row["pk"] for row in matching} == {shop["vip"].pk}


def test_an_unknown_plan_is_refused_with_the_plans_to_use():
    with pytest.raises(ValueError, match="use one of auto, grouped, correlated"):
        plan_choose(parse_rule(BUYERS), now=NOW, plan="fast")
    assert "{plan}" in ERROR_PLAN


def test_a_refresh_restricted_to_the_candidates_measures_only_their_events(shop):
    trees = [parse_rule(VIP_BUYERS), parse_rule(SHANGHAI_BUYERS)]
    union = shared_candidates(trees, now=NOW, plan=CORRELATED)
    plan = shared_measures({("purchase", "count", 30, ())}, candidates=union, prefix="restricted")

    shared_measures_fill(plan=plan, now=NOW)

    try:
        with connection.cursor() as cursor:
            (table,) = plan.tables
            cursor.execute(f"SELECT profile_id, m0 FROM {table}")
            measured = dict(cursor.fetchall())
    finally:
        shared_measures_drop(plan=plan)
    assert ids(union) == {shop["vip"].pk, shop["idle"].pk}
    assert measured == {shop["vip"].pk: 2}  # the busy buyer in 北京 is no candidate


def test_grouped_plans_never_restrict_a_refresh(shop):
    trees = [parse_rule(VIP_BUYERS)]

    assert shared_candidates(trees, now=NOW, plan=GROUPED) is None
    assert rule_candidates(trees[0], now=NOW) is not None


@pytest.mark.parametrize("plan", [GROUPED, CORRELATED])
def test_a_refresh_of_many_segments_selects_the_same_in_either_plan(shop, plan, settings):
    settings.SEGMENT_PLAN = plan
    rules = [VIP_BUYERS, BUYERS, SHANGHAI_BUYERS]
    segments = [
        Segment.objects.create(name=f"s{i}", slug=f"s{i}", rule=rule)
        for i, rule in enumerate(rules)
    ]

    segments_evaluate_many(segment_ids=[s.pk for s in segments], now=NOW)

    found = [
        set(SegmentMembership.objects.filter(segment=s).values_list("profile_id", flat=True))
        for s in segments
    ]
    assert found == [{shop["vip"].pk}, {shop["vip"].pk, shop["busy"].pk}, {shop["vip"].pk}]


@pytest.mark.parametrize("plan", [GROUPED, CORRELATED])
def test_a_profile_that_withdrew_profiling_is_in_no_behaviour_segment_in_either_plan(
    plan, settings
):
    settings.SEGMENT_PLAN = plan
    shopper, private = ProfileFactory(city="上海"), ProfileFactory(city="上海")
    consent_record(
        entry=ConsentEntry(
            profile_id=private.pk, channel="email", purpose="profiling", status="withdrawn",
            source=ConsentSource.WEB_FORM,
        )
    )  # fmt: skip
    spent_little = {"event": "purchase", "within_days": 30, "sum": "amount", "value": {"lt": 100}}
    rules = [{"all": [IN_SHANGHAI, spent_little]}, SHANGHAI_BUYERS]
    segments = [
        Segment.objects.create(name=f"p{i}", slug=f"p{i}", rule=rule)
        for i, rule in enumerate(rules)
    ]

    segments_evaluate_many(segment_ids=[s.pk for s in segments], now=NOW)
    matching, _choice = rule_matching(parse_rule(rules[0]), now=NOW)

    members = SegmentMembership.objects.filter(segment=segments[0])
    assert set(members.values_list("profile_id", flat=True)) == {shopper.pk}  # none spent: 0 < 100
    assert {row["pk"] for row in matching} == {shopper.pk}
