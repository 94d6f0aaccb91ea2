"""Event conditions on event properties (``"where": {"category": "beauty"}``), in every plan.

Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://…): the answers must be the same.
"""

import datetime
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.test import override_settings

from profiles.ingest import events_ingest
from profiles.models import Profile
from segments.compiler import PLANS, compile_rule, measure_keys, rule_matching
from segments.explain import segment_explain
from segments.models import Segment
from segments.rules import PropertyEquals, parse_rule
from segments.services import segment_evaluate, segments_evaluate_many
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
EVERYONE = {"ann", "bob", "cat", "dan", "eve"}


def ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def bought(who, days: float, amount: str, **properties):
    PurchaseFactory(
        profile=who, occurred_at=ago(days), amount=Decimal(amount), properties=properties
    )


@pytest.fixture
def shop(settings):
    """Five profiles and their purchases' properties (all written by the ORM).

    | who | purchases (days ago, amount, properties)                                    |
    |-----|-----------------------------------------------------------------------------|
    | ann | 10: 100 beauty; 10: 50 food; 200: 30 beauty                                 |
    | bob | 5: 80 Beauty (another case); a visit with category beauty                  |
    | cat | 1: 20 beauty, gift true; 100: 300 beauty (outside 90 days)                  |
    | dan | 3: 60 price 1.0, 品类 美妆; 3: 10 category ["beauty"] (an array); gift "true" |
    | eve | none                                                                        |
    """
    settings.TIME_ZONE = "Asia/Shanghai"
    people = {name: ProfileFactory(external_id=name) for name in sorted(EVERYONE)}
    bought(people["ann"], 10, "100", category="beauty")
    bought(people["ann"], 10, "50", category="food")
    bought(people["ann"], 200, "30", category="beauty")
    bought(people["bob"], 5, "80", category="Beauty")
    EventFactory(
        profile=people["bob"], name="visit", occurred_at=ago(5), properties={"category": "beauty"}
    )
    bought(people["cat"], 1, "20", category="beauty", gift=True)
    bought(people["cat"], 100, "300", category="beauty")
    bought(people["dan"], 3, "60", price=1.0, **{"品类": "美妆"})
    bought(people["dan"], 3, "10", category=["beauty"], gift="true")
    return people


def purchases(where: dict, days: int = 90, **measure) -> dict:
    rule = {"event": "purchase", "where": where, "within_days": days}
    return {**rule, **(measure or {"count": {"gte": 1}})}


CASES = [
    (purchases({"category": "beauty"}), {"ann", "cat"}),
    (purchases({"category": "beauty"}, 365, count={"gte": 2}), {"ann", "cat"}),
    (purchases({"category": "beauty"}, 90, count={"eq": 0}), {"bob", "dan", "eve"}),
    (purchases({"category": "beauty"}, 365, count={"between": [1, 1]}), set()),
    (purchases({"category": "beauty"}, 90, sum="amount", value={"gt": 50}), {"ann"}),
    (
        purchases({"category": "beauty"}, 365, sum="amount", value={"lt": 100}),
        {"bob", "dan", "eve"},
    ),
    (purchases({"category": "beauty", "gift": True}), {"cat"}),
    (purchases({"gift": 1}), set()),  # true is not 1
    (purchases({"gift": "true"}), {"dan"}),
    (purchases({"price": 1}), {"dan"}),  # 1 is 1.0
    (purchases({"price": "1"}), set()),
    (purchases({"品类": "美妆"}), {"dan"}),
    (purchases({"category": "Beauty"}), {"bob"}),  # case-sensitive, as every text comparison
    (purchases({"missing": "x"}), set()),
    # Different properties of one event in one "all": one scan, a measure for each.
    (
        {
            "all": [
                purchases({"category": "beauty"}, 365, count={"gte": 2}),
                purchases({"category": "food"}, 30, count={"gte": 1}),
            ]
        },
        {"ann"},
    ),
    (
        {
            "all": [
                purchases({"category": "beauty"}, 90, count={"gte": 1}),
                {"event": "purchase", "within_days": 90, "sum": "amount", "value": {"gte": 150}},
            ]
        },
        {"ann"},
    ),
]


def members(rule, plan: str) -> set[str]:
    condition = compile_rule(parse_rule(rule), now=NOW, plan=plan)
    return set(Profile.objects.filter(condition).values_list("external_id", flat=True))


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_each_rule_on_properties_selects_the_hand_checked_profiles(shop, rule, expected, plan):
    assert members(rule, plan) == expected


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_not_of_each_rule_on_properties_selects_exactly_the_others(shop, rule, expected, plan):
    assert members({"not": rule}, plan) == EVERYONE - expected


def test_non_ascii_property_names_match_however_the_json_was_written(shop):
    events_ingest(
        rows=[
            (
                1,
                {
                    "external_id": "fay",
                    "name": "purchase",
                    "occurred_at": ago(1).isoformat(),
                    "properties": json.dumps({"品类": "美妆"}, ensure_ascii=False),
                },
            )
        ]
    )  # raw UTF-8 JSON text, where the ORM escapes (dan's)

    for plan in PLANS:
        assert members(purchases({"品类": "美妆"}), plan) == {"dan", "fay"}


def test_measures_with_different_properties_are_different_measures():
    tree = parse_rule(
        {
            "all": [
                purchases({"category": "beauty"}, count={"gte": 2}),
                purchases({"category": "food"}, count={"gte": 2}),
                purchases({"category": "beauty"}, count={"gte": 3}),
            ]
        }
    )

    keys = measure_keys(tree)

    assert keys == {
        ("purchase", "count", 90, (PropertyEquals("category", "text", "beauty"),)),
        ("purchase", "count", 90, (PropertyEquals("category", "text", "food"),)),
    }


def test_segments_refreshed_together_share_one_scan_with_a_column_per_property_set(shop):
    beauty = Segment.objects.create(
        name="b", slug="beauty", rule=purchases({"category": "beauty"}, 365, count={"gte": 2})
    )
    food = Segment.objects.create(
        name="f", slug="food", rule=purchases({"category": "food"}, 365, count={"gte": 1})
    )
    spent = Segment.objects.create(
        name="s",
        slug="spent",
        rule={"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gte": 100}},
    )

    runs = segments_evaluate_many(segment_ids=[beauty.pk, food.pk, spent.pk], now=NOW)

    assert [run.error for run in runs] == ["", "", ""]
    assert _members(beauty) == {"ann", "cat"}
    assert _members(food) == {"ann"}
    assert _members(spent) == {"ann", "cat"}


@override_settings(SEGMENT_PLAN="correlated")
def test_a_correlated_segment_on_properties_evaluates_through_its_candidates(shop):
    rule = {
        "all": [
            {"attr": "external_id", "op": "in", "value": ["ann", "bob", "cat"]},
            purchases({"category": "beauty"}, 365, sum="amount", value={"gte": 100}),
        ]
    }
    segment = Segment.objects.create(name="c", slug="correlated", rule=rule)

    run = segment_evaluate(segment_id=segment.pk, now=NOW)

    assert not run.error
    assert _members(segment) == {"ann", "cat"}


def _members(segment: Segment) -> set[str]:
    return set(segment.memberships.values_list("profile__external_id", flat=True))


def test_the_plan_chosen_for_a_rule_on_properties_selects_the_same(shop):
    tree = parse_rule(purchases({"category": "beauty"}, 365, count={"gte": 2}))

    matching, _choice = rule_matching(tree, now=NOW)

    assert set(Profile.objects.filter(pk__in=matching).values_list("external_id", flat=True)) == {
        "ann",
        "cat",
    }


def test_the_explanation_counts_only_the_events_with_the_properties(shop):
    segment = Segment.objects.create(
        name="b",
        slug="beauty",
        rule=purchases({"category": "beauty", "gift": True}, 30, sum="amount", value={"gte": 10}),
    )

    node = segment_explain(segment=segment, profile=shop["cat"], now=NOW)

    assert (node.met, node.kind, node.actual) == (True, "event", Decimal("20.00"))
    assert node.shown.startswith(
        'amount sum 20.00 of purchase with category = "beauty", gift = true from '
    )
    assert json.loads(node.condition)["where"] == {"category": "beauty", "gift": True}
