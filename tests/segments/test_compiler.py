"""Compiling rules: every operator and condition kind against five profiles checked by hand.

Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://…): the answers must be the same.
"""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from journeys.conditions import ERROR_UNKNOWN_STAGE
from journeys.models import JourneyStage
from profiles.ingest import profiles_ingest
from profiles.models import Profile
from segments.compiler import compile_rule
from segments.models import Segment, SegmentMembership
from segments.rules import RuleError, parse_rule
from segments.services import segment_preview
from tests.factories import (
    EventFactory,
    ProfileFactory,
    ProfileTagFactory,
    PurchaseFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
EVERYONE = {"ann", "bob", "cat", "dan", "eve"}


def ago(days: float = 0, hours: float = 0, microseconds: int = 0) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days, hours=hours, microseconds=microseconds)


def local(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def people():
    """Five profiles; cat has no value anywhere, the others differ in every field.

    | who | city     | gender  | birth      | signup (local)   | recency | monetary | tier |
    |-----|----------|---------|------------|------------------|---------|----------|------|
    | ann | 上海     | female  | 1990-05-01 | 2024-01-31 23:30 | 3       | 820.50   | high |
    | bob | 北京     | male    | 1985-12-31 | 2024-02-01 00:00 | 40      | 99.99    | mass |
    | cat | ""       | unknown | -          | -                | -       | 0        | ""   |
    | dan | Shanghai | other   | 2000-02-29 | now - 400 days   | 200     | 300.00   | mid  |
    | eve | 上海     | female  | today - 10 | now - 5 days     | -       | 0        | mass |
    """
    ProfileFactory(
        external_id="ann",
        email="ann@example.com",
        phone="+8613800000001",
        name="Ann 李",
        gender="female",
        birth_date=datetime.date(1990, 5, 1),
        city="上海",
        region="华东",
        signup_at=local(2024, 1, 31, 23, 30),
        channel="web",
        recency_days=3,
        frequency=4,
        monetary=Decimal("820.50"),
        r_score=5,
        f_score=4,
        m_score=5,
        value_tier="high",
        last_seen_at=ago(hours=1),
        first_purchase_at=local(2023, 3, 1, 10, 0),
        last_purchase_at=ago(days=3),
        traits={"membership": "gold", "score": 7, "vip": True, "note": ""},
    )
    ProfileFactory(
        external_id="bob",
        email="BOB@Example.com",
        phone="+8613900000002",
        name="Bob 王",
        gender="male",
        birth_date=datetime.date(1985, 12, 31),
        city="北京",
        region="华北",
        signup_at=local(2024, 2, 1, 0, 0),
        channel="store",
        recency_days=40,
        frequency=1,
        monetary=Decimal("99.99"),
        r_score=2,
        f_score=1,
        m_score=1,
        value_tier="mass",
        last_seen_at=ago(days=40),
        first_purchase_at=ago(days=40),
        last_purchase_at=ago(days=40),
        traits={"membership": "silver", "score": 7.5, "vip": False, "tags": ["a", "b"]},
    )
    ProfileFactory(
        external_id="cat",
        email="",
        name="",
        gender="unknown",
        city="",
        signup_at=None,
        traits={"membership": None, "score": "7"},
    )
    ProfileFactory(
        external_id="dan",
        email="dan@example.org",
        phone="+8613800000004",
        name="dan",
        gender="other",
        birth_date=datetime.date(2000, 2, 29),
        city="Shanghai",
        region="华东",
        signup_at=ago(days=400),
        channel="app",
        recency_days=200,
        frequency=2,
        monetary=Decimal("300.00"),
        r_score=1,
        f_score=2,
        m_score=3,
        value_tier="mid",
        last_seen_at=ago(days=200),
        first_purchase_at=ago(days=300),
        last_purchase_at=ago(days=200),
        traits={"membership": "Gold", "score": 10, "vip": "yes", "会员 等级": "金卡"},
    )
    ProfileFactory(
        external_id="eve",
        email="eve@example.com",
        phone="+8618600000005",
        name="Eve 张",
        gender="female",
        birth_date=datetime.date(2025, 6, 20),
        city="上海",
        region="华东",
        signup_at=ago(days=5),
        channel="web",
        value_tier="mass",
        last_seen_at=ago(days=2),
        traits={},
    )
    return {p.external_id: p for p in Profile.objects.all()}


@pytest.fixture
def shop(people):
    """The people's events, tags and one segment.

    Purchases: ann 300.00 (1 day ago), 200.50 (10 days), 320.00 (100 days); bob 99.99 (40 days);
    dan 150.00 (200 days) and 150.00 (300 days); eve one without an amount (3 days); cat none.
    Feedback: bob (5 days ago), dan (170 days ago). Visits: ann exactly 7 days ago, bob 7 days
    and 1 µs ago, dan in an hour. Tag coupon-lover: ann (no expiry), bob (expired an hour ago),
    cat (expires exactly now), dan (expires tomorrow); tag vip: eve. Segment buyers: ann, bob.
    """
    for who, days, amount in [
        ("ann", 1, "300.00"),
        ("ann", 10, "200.50"),
        ("ann", 100, "320.00"),
        ("bob", 40, "99.99"),
        ("dan", 200, "150.00"),
        ("dan", 300, "150.00"),
    ]:
        PurchaseFactory(profile=people[who], occurred_at=ago(days=days), amount=Decimal(amount))
    PurchaseFactory(profile=people["eve"], occurred_at=ago(days=3), amount=None)
    EventFactory(profile=people["eve"], name="page_view", occurred_at=ago(days=2))
    EventFactory(profile=people["bob"], name="feedback", occurred_at=ago(days=5))
    EventFactory(profile=people["dan"], name="feedback", occurred_at=ago(days=170))
    EventFactory(profile=people["ann"], name="visit", occurred_at=ago(days=7))
    EventFactory(profile=people["bob"], name="visit", occurred_at=ago(days=7, microseconds=1))
    EventFactory(profile=people["dan"], name="visit", occurred_at=ago(hours=-1))
    coupon = TagFactory(slug="coupon-lover")
    ProfileTagFactory(profile=people["ann"], tag=coupon)
    ProfileTagFactory(profile=people["bob"], tag=coupon, expires_at=ago(hours=1))
    ProfileTagFactory(profile=people["cat"], tag=coupon, expires_at=NOW)
    ProfileTagFactory(profile=people["dan"], tag=coupon, expires_at=ago(days=-1))
    ProfileTagFactory(profile=people["eve"], tag=TagFactory(slug="vip"))
    buyers = Segment.objects.create(name="Buyers", slug="buyers", rule={})
    Segment.objects.create(name="Nobody", slug="nobody", rule={})
    for who in ("ann", "bob"):
        SegmentMembership.objects.create(segment=buyers, profile=people[who])
    return people


def members(rule) -> set[str]:
    condition = compile_rule(parse_rule(rule), now=NOW)
    return set(Profile.objects.filter(condition).values_list("external_id", flat=True))


def attr(name: str, op: str, *value) -> dict:
    rule = {"attr": name, "op": op}
    if value:
        rule["value"] = value[0]
    return rule


def count(name: str, days: int, op: str, value) -> dict:
    return {"event": name, "within_days": days, "count": {op: value}}


def spent(days: int, op: str, value) -> dict:
    return {"event": "purchase", "within_days": days, "sum": "amount", "value": {op: value}}


ATTRIBUTE_CASES = [
    # Text, ordered by code point: "" < "Shanghai" < "上海" < "北京".
    # a place is compared in every spelling: dan's stored "Shanghai" is 上海 (profiles.places)
    (attr("city", "eq", "上海"), {"ann", "dan", "eve"}),
    (attr("city", "ne", "上海"), {"bob", "cat"}),
    (attr("city", "eq", "上海市"), {"ann", "dan", "eve"}),
    (attr("city", "lt", "北京"), {"ann", "cat", "dan", "eve"}),
    (attr("city", "lte", "北京"), EVERYONE),
    (attr("city", "gt", "上海"), {"bob"}),
    (attr("city", "gte", "上海"), {"ann", "bob", "eve"}),
    (attr("city", "between", ["A", "上海"]), {"ann", "dan", "eve"}),
    (attr("city", "in", ["北京", "Shanghai"]), {"ann", "bob", "dan", "eve"}),
    (attr("city", "not_in", ["北京", "Shanghai"]), {"cat"}),
    (attr("city", "in", ["Singapore", "北京市"]), {"bob"}),
    (attr("city", "contains", "海"), {"ann", "eve"}),
    (attr("city", "contains", "hai"), {"dan"}),
    (attr("city", "contains", "HAI"), set()),
    (attr("city", "startswith", "S"), {"dan"}),
    (attr("city", "startswith", "s"), set()),
    (attr("city", "is_set"), {"ann", "bob", "dan", "eve"}),
    (attr("city", "is_not_set"), {"cat"}),
    (attr("email", "contains", "example.com"), {"ann", "eve"}),
    (attr("email", "startswith", "BOB@"), {"bob"}),
    (attr("phone", "startswith", "+86138"), {"ann", "dan"}),
    (attr("phone", "eq", "+8613900000002"), {"bob"}),
    (attr("phone", "is_not_set"), {"cat"}),
    (attr("name", "startswith", "Ann"), {"ann"}),
    (attr("external_id", "in", ["ann", "zed"]), {"ann"}),
    (attr("region", "eq", "华东"), {"ann", "dan", "eve"}),
    (attr("channel", "ne", "web"), {"bob", "cat", "dan"}),
    # Choices: gender "unknown" is a value, value_tier "" is none.
    (attr("gender", "eq", "female"), {"ann", "eve"}),
    (attr("gender", "ne", "female"), {"bob", "cat", "dan"}),
    (attr("gender", "in", ["male", "other"]), {"bob", "dan"}),
    (attr("gender", "not_in", ["male", "other"]), {"ann", "cat", "eve"}),
    (attr("gender", "is_set"), EVERYONE),
    (attr("gender", "is_not_set"), set()),
    (attr("value_tier", "eq", "mass"), {"bob", "eve"}),
    (attr("value_tier", "ne", "high"), {"bob", "cat", "dan", "eve"}),
    (attr("value_tier", "in", ["high", "mid"]), {"ann", "dan"}),
    (attr("value_tier", "not_in", ["high", "mid"]), {"bob", "cat", "eve"}),
    (attr("value_tier", "is_set"), {"ann", "bob", "dan", "eve"}),
    (attr("value_tier", "is_not_set"), {"cat"}),
    # Whole numbers; cat and eve have no recency.
    (attr("recency_days", "eq", 40), {"bob"}),
    (attr("recency_days", "ne", 40), {"ann", "cat", "dan", "eve"}),
    (attr("recency_days", "lt", 40), {"ann"}),
    (attr("recency_days", "lte", 40), {"ann", "bob"}),
    (attr("recency_days", "gt", 40), {"dan"}),
    (attr("recency_days", "gte", 40), {"bob", "dan"}),
    (attr("recency_days", "between", [3, 40]), {"ann", "bob"}),
    (attr("recency_days", "in", [3, 200]), {"ann", "dan"}),
    (attr("recency_days", "not_in", [3, 200]), {"bob", "cat", "eve"}),
    (attr("recency_days", "is_set"), {"ann", "bob", "dan"}),
    (attr("recency_days", "is_not_set"), {"cat", "eve"}),
    (attr("frequency", "lt", 1), {"cat", "eve"}),
    (attr("frequency", "is_set"), EVERYONE),
    (attr("frequency", "is_not_set"), set()),
    (attr("r_score", "gte", 2), {"ann", "bob"}),
    (attr("f_score", "eq", 4), {"ann"}),
    (attr("m_score", "between", [1, 3]), {"bob", "dan"}),
    # Decimals.
    (attr("monetary", "eq", 99.99), {"bob"}),
    (attr("monetary", "ne", 0), {"ann", "bob", "dan"}),
    (attr("monetary", "lt", 100), {"bob", "cat", "eve"}),
    (attr("monetary", "lte", 99.99), {"bob", "cat", "eve"}),
    (attr("monetary", "gt", 300), {"ann"}),
    (attr("monetary", "gte", 300), {"ann", "dan"}),
    (attr("monetary", "between", [99.99, 300]), {"bob", "dan"}),
    (attr("monetary", "in", [0, 820.5]), {"ann", "cat", "eve"}),
    (attr("monetary", "not_in", [0, 820.5]), {"bob", "dan"}),
    (attr("monetary", "is_set"), EVERYONE),
    # Dates; today is 2025-06-30 and eve was born ten days ago.
    (attr("birth_date", "eq", "1990-05-01"), {"ann"}),
    (attr("birth_date", "ne", "1990-05-01"), {"bob", "cat", "dan", "eve"}),
    (attr("birth_date", "lt", "1990-05-01"), {"bob"}),
    (attr("birth_date", "lte", "1990-05-01"), {"ann", "bob"}),
    (attr("birth_date", "gt", "1990-05-01"), {"dan", "eve"}),
    (attr("birth_date", "gte", "1990-05-01"), {"ann", "dan", "eve"}),
    (attr("birth_date", "between", ["1985-12-31", "2000-02-29"]), {"ann", "bob", "dan"}),
    (attr("birth_date", "within_last_days", 10), {"eve"}),
    (attr("birth_date", "within_last_days", 9), set()),
    (attr("birth_date", "more_than_days_ago", 10), {"ann", "bob", "dan"}),
    (attr("birth_date", "more_than_days_ago", 9), {"ann", "bob", "dan", "eve"}),
    (attr("birth_date", "is_set"), {"ann", "bob", "dan", "eve"}),
    (attr("birth_date", "is_not_set"), {"cat"}),
    # Dates and times: a date is the whole local day; ann signed up late on 31 January, bob at
    # the first instant of 1 February, eve exactly five days ago, dan exactly 400 days ago.
    (attr("signup_at", "eq", "2024-01-31"), {"ann"}),
    (attr("signup_at", "eq", "2024-02-01"), {"bob"}),
    (attr("signup_at", "ne", "2024-01-31"), {"bob", "cat", "dan", "eve"}),
    (attr("signup_at", "lt", "2024-02-01"), {"ann"}),
    (attr("signup_at", "lte", "2024-01-31"), {"ann"}),
    (attr("signup_at", "gt", "2024-01-31"), {"bob", "dan", "eve"}),
    (attr("signup_at", "gte", "2024-02-01"), {"bob", "dan", "eve"}),
    (attr("signup_at", "between", ["2024-01-31", "2024-01-31"]), {"ann"}),
    (attr("signup_at", "eq", "2024-02-01T00:00:00+08:00"), {"bob"}),
    (attr("signup_at", "eq", "2024-01-31T15:30:00Z"), {"ann"}),
    (attr("signup_at", "gt", "2024-01-31T23:30"), {"bob", "dan", "eve"}),
    (attr("signup_at", "between", ["2024-01-31T23:00", "2024-02-01T00:00"]), {"ann", "bob"}),
    (attr("signup_at", "within_last_days", 5), {"eve"}),
    (attr("signup_at", "within_last_days", 4), set()),
    (attr("signup_at", "more_than_days_ago", 5), {"ann", "bob", "dan"}),
    (attr("signup_at", "more_than_days_ago", 400), {"ann", "bob"}),
    (attr("signup_at", "is_set"), {"ann", "bob", "dan", "eve"}),
    (attr("signup_at", "is_not_set"), {"cat"}),
    (attr("last_seen_at", "within_last_days", 1), {"ann"}),
    (attr("first_purchase_at", "lt", "2024-01-01"), {"ann"}),
    (attr("last_purchase_at", "within_last_days", 30), {"ann"}),
    # Traits, by JSON type: ann gold/7/true/"", bob silver/7.5/false/[…], cat null/"7",
    # dan Gold/10/"yes", eve nothing.
    (attr("traits.membership", "eq", "gold"), {"ann"}),
    (attr("traits.membership", "ne", "gold"), {"bob", "cat", "dan", "eve"}),
    (attr("traits.membership", "lt", "h"), {"ann", "dan"}),
    (attr("traits.membership", "gt", "Gold"), {"ann", "bob"}),
    (attr("traits.membership", "between", ["Gold", "gold"]), {"ann", "dan"}),
    (attr("traits.membership", "in", ["gold", "Gold"]), {"ann", "dan"}),
    (attr("traits.membership", "not_in", ["gold", "Gold"]), {"bob", "cat", "eve"}),
    (attr("traits.membership", "contains", "old"), {"ann", "dan"}),
    (attr("traits.membership", "startswith", "g"), {"ann"}),
    (attr("traits.membership", "is_set"), {"ann", "bob", "dan"}),
    (attr("traits.membership", "is_not_set"), {"cat", "eve"}),
    (attr("traits.score", "eq", 7), {"ann"}),
    (attr("traits.score", "eq", 7.0), {"ann"}),
    (attr("traits.score", "eq", "7"), {"cat"}),
    (attr("traits.score", "gt", 7), {"bob", "dan"}),
    (attr("traits.score", "lt", 7.5), {"ann"}),
    (attr("traits.score", "lte", 7.5), {"ann", "bob"}),
    (attr("traits.score", "gte", 10), {"dan"}),
    (attr("traits.score", "between", [7, 7.5]), {"ann", "bob"}),
    (attr("traits.score", "lt", "8"), {"cat"}),
    (attr("traits.score", "in", [7, "7"]), {"ann", "cat"}),
    (attr("traits.score", "not_in", [7, "7"]), {"bob", "dan", "eve"}),
    (attr("traits.score", "is_set"), {"ann", "bob", "cat", "dan"}),
    (attr("traits.vip", "eq", True), {"ann"}),
    (attr("traits.vip", "eq", False), {"bob"}),
    (attr("traits.vip", "ne", True), {"bob", "cat", "dan", "eve"}),
    (attr("traits.vip", "in", [True, "yes"]), {"ann", "dan"}),
    (attr("traits.note", "is_set"), set()),
    (attr("traits.note", "is_not_set"), EVERYONE),
    (attr("traits.tags", "is_set"), {"bob"}),
    (attr("traits.tags", "eq", "a"), set()),
    (attr("traits.会员 等级", "eq", "金卡"), {"dan"}),
]
EVENT_CASES = [
    # Purchases in the last 30 days: ann 2, eve 1 (no amount); in 365 days: ann 3, bob 1,
    # dan 2, eve 1.
    (count("purchase", 30, "gte", 1), {"ann", "eve"}),
    (count("purchase", 30, "eq", 0), {"bob", "cat", "dan"}),
    (count("purchase", 30, "gt", 0), {"ann", "eve"}),
    (count("purchase", 50, "lt", 1), {"cat", "dan"}),
    (count("purchase", 365, "gte", 2), {"ann", "dan"}),
    (count("purchase", 365, "gt", 2), {"ann"}),
    (count("purchase", 365, "lt", 2), {"bob", "cat", "eve"}),
    (count("purchase", 365, "lte", 0), {"cat"}),
    (count("purchase", 365, "eq", 1), {"bob", "eve"}),
    (count("purchase", 365, "ne", 1), {"ann", "cat", "dan"}),
    (count("purchase", 365, "ne", 0), {"ann", "bob", "dan", "eve"}),
    (count("purchase", 365, "between", [1, 2]), {"bob", "dan", "eve"}),
    (count("purchase", 365, "between", [0, 1]), {"bob", "cat", "eve"}),
    (count("feedback", 180, "eq", 0), {"ann", "cat", "eve"}),
    # Sums: 365 days: ann 820.50, bob 99.99, dan 300.00, cat and eve 0; 30 days: ann 500.50.
    (spent(365, "gt", 500), {"ann"}),
    (spent(365, "eq", 820.5), {"ann"}),
    (spent(365, "lt", 100), {"bob", "cat", "eve"}),
    (spent(365, "gte", 300), {"ann", "dan"}),
    (spent(365, "lte", 0), {"cat", "eve"}),
    (spent(365, "ne", 0), {"ann", "bob", "dan"}),
    (spent(30, "between", [0, 500]), {"bob", "cat", "dan", "eve"}),
    (spent(30, "eq", 500.5), {"ann"}),
    # Window ends: ann's visit is exactly 7 days ago, bob's a microsecond earlier, dan's later.
    (count("visit", 7, "gte", 1), {"ann"}),
    (count("visit", 7, "eq", 0), {"bob", "cat", "dan", "eve"}),
    (count("visit", 8, "eq", 1), {"ann", "bob"}),
]
OTHER_CASES = [
    # Tags: bob's expired an hour ago, cat's expires exactly now, dan's tomorrow.
    ({"tag": "coupon-lover", "op": "has"}, {"ann", "dan"}),
    ({"tag": "coupon-lover", "op": "has_not"}, {"bob", "cat", "eve"}),
    ({"tag": "vip", "op": "has"}, {"eve"}),
    ({"tag": "no-such-tag", "op": "has"}, set()),
    # Segments.
    ({"segment": "buyers"}, {"ann", "bob"}),
    ({"not": {"segment": "buyers"}}, {"cat", "dan", "eve"}),
    ({"segment": "nobody"}, set()),
    # Groups.
    ({"all": [attr("city", "eq", "上海"), attr("gender", "eq", "female")]}, {"ann", "eve"}),
    ({"any": [attr("city", "eq", "北京"), {"tag": "vip", "op": "has"}]}, {"bob", "eve"}),
    ({"not": attr("recency_days", "lt", 40)}, {"bob", "cat", "dan", "eve"}),
    ({"not": {"not": attr("recency_days", "lt", 40)}}, {"ann"}),
    (
        {
            "all": [
                attr("city", "in", ["上海", "北京"]),
                count("purchase", 365, "gte", 1),
                {"any": [{"tag": "coupon-lover", "op": "has"}, {"not": {"segment": "buyers"}}]},
            ]
        },
        {"ann", "dan", "eve"},  # dan's "Shanghai" is 上海
    ),
]
CASES = [
    pytest.param(rule, expected, id=f"{i}")
    for i, (rule, expected) in enumerate(ATTRIBUTE_CASES + EVENT_CASES + OTHER_CASES)
]


@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_each_rule_selects_the_hand_checked_profiles(shop, rule, expected):
    selected = members(rule)

    assert selected == expected


@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_not_of_each_rule_selects_exactly_the_others(shop, rule, expected):
    selected = members({"not": rule})

    assert selected == EVERYONE - expected


def test_non_ascii_trait_keys_match_however_the_json_was_written(people):
    profiles_ingest(rows=[(1, {"external_id": "fay", "会员 等级": "金卡"})])  # raw UTF-8 JSON

    selected = members(attr("traits.会员 等级", "eq", "金卡"))

    assert selected == {"dan", "fay"}  # dan's traits were written by the ORM (escaped)


def test_sums_are_compared_in_cents(people):
    for amount in ("0.10", "0.20"):  # 0.1 + 0.2 is not 0.3 in floating point (SQLite's sums)
        PurchaseFactory(profile=people["eve"], name="tip", occurred_at=ago(1), amount=amount)

    selected = members({"event": "tip", "within_days": 30, "sum": "amount", "value": {"eq": 0.3}})

    assert selected == {"eve"}


def test_text_is_ordered_by_code_point_whatever_the_column_collation(people):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite compares text by code point (BINARY) unless told otherwise")
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute(
            'ALTER TABLE profiles_profile ALTER COLUMN city TYPE varchar(100) COLLATE "en-x-icu"'
        )
    by_collation = set(Profile.objects.filter(city__lt="a").values_list("external_id", flat=True))

    selected = members(attr("city", "lt", "a"))

    assert by_collation == {"cat"}  # the column's collation puts "Shanghai" after "a"
    assert selected == {"cat", "dan"}  # by code point, "S" comes before "a"


def test_compiling_runs_no_query(shop, django_assert_num_queries):
    tree = parse_rule({"all": [case[0] for case in OTHER_CASES + EVENT_CASES]})

    with django_assert_num_queries(0):
        compile_rule(tree, now=NOW)


def test_a_rule_of_every_kind_is_answered_in_one_statement(shop, django_assert_num_queries):
    rule = {"any": [case[0] for case in ATTRIBUTE_CASES + EVENT_CASES + OTHER_CASES]}
    condition = compile_rule(parse_rule(rule), now=NOW)

    with django_assert_num_queries(1):
        selected = set(Profile.objects.filter(condition).values_list("external_id", flat=True))

    assert selected == EVERYONE


def test_now_defaults_to_the_current_time(shop):
    rule = parse_rule({"attr": "signup_at", "op": "within_last_days", "value": 50})

    with time_machine.travel(NOW + datetime.timedelta(days=40), tick=False):
        condition = compile_rule(rule)
    selected = set(Profile.objects.filter(condition).values_list("external_id", flat=True))

    assert selected == {"eve"}  # signed up 45 days before that "now"


def test_a_stage_condition_compiles_and_an_unknown_stage_is_refused_naming_the_node():
    # The journeys app plugs stage conditions in (tests/journeys/test_stage_condition.py).
    JourneyStage.objects.all().delete()
    JourneyStage.objects.create(slug="repurchase", name="复购", position=4, rule={})
    known = parse_rule({"not": {"stage": "repurchase", "op": "reached"}})
    unknown = parse_rule(
        {"all": [attr("city", "eq", "上海"), {"not": {"stage": "welcome", "op": "reached"}}]}
    )

    compile_rule(known, now=NOW)
    with pytest.raises(RuleError) as caught:
        compile_rule(unknown, now=NOW)

    message = ERROR_UNKNOWN_STAGE.format(slug="welcome", slugs="repurchase")
    assert str(caught.value) == f"all[1].not.stage: {message}"


def test_the_preview_counts_a_rule_and_shows_a_sample(shop):
    rule = {"all": [attr("city", "eq", "上海"), {"not": {"segment": "nobody"}}]}

    preview = segment_preview(rule=rule, now=NOW)

    assert preview == {
        "size": 3,
        "sample": ["ann", "dan", "eve"],
        "as_of": NOW.isoformat(),
        "opted_out": 0,
    }


def test_the_preview_refuses_unknown_segments_and_a_reference_to_the_segment_itself(shop):
    Segment.objects.create(name="Loyal", slug="loyal", rule={"segment": "buyers"})

    with pytest.raises(RuleError) as unknown:
        segment_preview(rule={"segment": "ghosts"})
    with pytest.raises(RuleError) as circle:
        segment_preview(rule={"any": [{"segment": "loyal"}]}, slug="loyal")

    assert unknown.value.path == "segment"
    assert circle.value.path == "any[0].segment"
