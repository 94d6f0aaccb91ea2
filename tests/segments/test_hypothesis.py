"""Random rules: the database agrees with a plain Python reading, and junk is refused cleanly.

(a) Random valid conditions (each operator of each value type, event measure with and without
event properties, tags, segments, engagement with messages) and random rules (trees of them),
built from the operator tables, select on the database exactly the profiles that a
straightforward Python evaluation of the same JSON selects over the same twenty profiles (with
events and their properties, tags, segment memberships, sends and their opens and clicks). The
Python side reads the rule JSON directly, following the semantics written at the top of
``segments/compiler/__init__.py``.
(b) Random junk is always refused with RuleError, never another exception; whatever parses also
compiles and runs without a database error.

Examples are derandomized (the same every run); RULE_RANDOM=1 explores new ones and
RULE_EXAMPLES=1000 searches harder.
"""

import copy
import datetime
import operator
import os
import random
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.conditions import MESSAGE_EVENTS
from campaigns.models import Campaign, Send, TrackingEvent
from profiles.models import Event, Gender, Profile, ProfileTag, ValueTier
from profiles.places import city_spellings, region_spellings
from segments.compiler import (
    PLANS,
    common_conditions,
    compile_rule,
    exists_windows,
    measure_keys,
    profile_columns,
    rule_candidates,
    shared_candidates,
    shared_matching,
    shared_measures,
    tag_slugs,
    uses_behaviour,
)
from segments.models import Segment, SegmentMembership
from segments.rules import (
    AGGREGATE_OPS,
    MAX_DEPTH,
    OPERATORS,
    PROFILE_ATTRIBUTES,
    TAG_OPS,
    TRAIT,
    RuleError,
    parse_rule,
)
from segments.services import shared_measures_drop, shared_measures_fill
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()
HYPOTHESIS = settings(
    max_examples=int(os.environ.get("RULE_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("RULE_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# The data set: twenty profiles drawn with a fixed seed from small pools, so that random rules
# often hit values, boundaries (exact window ends, local midnights) and missing values.


def days_ago(days: float, **extra) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days, **extra)


MOMENTS = [
    None,
    NOW,
    days_ago(1),
    days_ago(5),
    days_ago(7),
    days_ago(7, microseconds=1),
    days_ago(30),
    days_ago(365),
    days_ago(-1),
    datetime.datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=SHANGHAI),
    datetime.datetime(2024, 2, 1, 0, 0, tzinfo=SHANGHAI),
    datetime.datetime(2024, 2, 1, 0, 0, tzinfo=datetime.UTC),
]
DATES = [None, TODAY, TODAY - datetime.timedelta(days=10), datetime.date(1990, 5, 1)]
PLACE_SPELLINGS = {"city": city_spellings, "region": region_spellings}
TEXTS = ["上海", "北京", "Shanghai", "shanghai", "", "S", "海", "Ann", "ann", "李雷", "华东", "web"]
NUMBERS = [0, 1, 2, 3, 5, 40, 200, -1]
MONEY = ["0", "99.99", "100.00", "300.50", "0.10", "0.20"]
TRAIT_VALUES = ["gold", "Gold", "silver", "", "7", 7, 7.5, 10, 0, -1, True, False, None, ["a"]]
TRAIT_KEYS = ["membership", "score", "vip", "会员 等级"]
EVENT_NAMES = ["purchase", "feedback", "visit"]
TAG_SLUGS = ["coupon-lover", "vip", "no-such-tag"]
EXPIRIES = [None, days_ago(0, hours=1), NOW, days_ago(-1)]
SEGMENT_SLUGS = ["buyers", "nobody"]
# Event properties: values of several JSON types under the same key, so that equality by type
# ("1" is not 1, true is not 1, 1.0 is 1) is exercised; a non-ASCII key; null and an array.
PROPERTY_VALUES = {
    "category": ["beauty", "beauty", "beauty", "Beauty", "food", "", 1, ["beauty"]],
    "price": [1, 1.0, 2.5, "1", True, None],
    "gift": [True, True, False, 1, 0, "true"],
    "品类": ["美妆", "食品"],
}
PROPERTY_CHANCE = {"category": 0.8, "price": 0.6, "gift": 0.6, "品类": 0.5}
CAMPAIGN_SLUGS = ["spring", "autumn", "ghost"]  # "ghost" names no campaign
SEND_STATUSES = ["sent", "sent", "sent", "failed", "skipped", "holdout"]


def _draw_profiles(seed: int = 2025, size: int = 20) -> list[dict]:
    rng = random.Random(seed)
    people = []
    for i in range(size):
        pick = rng.choice
        people.append(
            {
                "fields": {
                    "external_id": f"p{i:02d}",
                    "email": pick([f"p{i}@example.com", f"P{i}@Example.COM", ""]),
                    "phone": pick([f"+86138000{i:05d}", ""]),
                    "name": pick(TEXTS),
                    "gender": pick(Gender.values),
                    "birth_date": pick(DATES),
                    "city": pick(TEXTS),
                    "region": pick(TEXTS),
                    "signup_at": pick(MOMENTS),
                    "channel": pick(["web", "app", "store", ""]),
                    # Drawn without the generator, so the other fields stay as they were.
                    "wechat_openid": f"oOpen{i % 3}" if i % 2 else "",
                    "wechat_unionid": f"oUnion{i}" if i % 3 else "",  # unique when set
                    "wecom_external_userid": ["", "wmA", "P1"][i % 3],
                    "recency_days": pick([None, *NUMBERS]),
                    "frequency": pick(NUMBERS[:5]),
                    "monetary": Decimal(pick(MONEY)),
                    "r_score": pick([None, 1, 2, 3, 5]),
                    "f_score": pick([None, 1, 3, 5]),
                    "m_score": pick([None, 2, 4]),
                    "value_tier": pick(["", *ValueTier.values]),
                    "last_seen_at": pick(MOMENTS),
                    "first_purchase_at": pick(MOMENTS),
                    "last_purchase_at": pick(MOMENTS),
                    "traits": {key: pick(TRAIT_VALUES) for key in TRAIT_KEYS if rng.random() < 0.7},
                },
                "events": [
                    (pick(EVENT_NAMES), pick(MOMENTS[1:]), pick([None, *MONEY]))
                    for _event in range(rng.randint(0, 4))
                ],
                "tags": [(slug, pick(EXPIRIES)) for slug in TAG_SLUGS[:2] if rng.random() < 0.5],
                "segments": [slug for slug in SEGMENT_SLUGS[:1] if rng.random() < 0.5],
            }
        )
    return people


def _draw_behaviour(people: list[dict], seed: int = 7) -> list[dict]:
    """Add event properties, sends and their tracking (a second draw: the first stays as it was)."""
    rng = random.Random(seed)
    pick = rng.choice

    def properties() -> dict:
        return {
            key: pick(values)
            for key, values in PROPERTY_VALUES.items()
            if rng.random() < PROPERTY_CHANCE[key]
        }

    for person in people:
        more = [
            (pick(EVENT_NAMES), pick(MOMENTS[1:]), pick([None, *MONEY]))
            for _event in range(rng.randint(0, 3))
        ]
        person["events"] = [(*event, properties()) for event in person["events"] + more]
        person["sends"] = []
        for slug in CAMPAIGN_SLUGS[:2]:
            if rng.random() < 0.6:
                status = pick(SEND_STATUSES)
                sent = status == "sent"
                person["sends"].append(
                    {
                        "campaign": slug,
                        "status": status,
                        "sent_at": pick(MOMENTS[1:]) if sent else None,
                        "tracking": [
                            (pick(["open", "click", "delivered"]), pick(MOMENTS[1:]))
                            for _track in range(rng.randint(0, 3) if sent else 0)
                        ],
                    }
                )
    return people


PEOPLE = _draw_behaviour(_draw_profiles())
SEGMENT_RULES = {slug: {} for slug in SEGMENT_SLUGS}  # static lists: nothing to follow


@pytest.fixture
def dataset(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    tags = {slug: TagFactory(slug=slug) for slug in TAG_SLUGS[:2]}
    segments = {slug: Segment.objects.create(name=slug, slug=slug) for slug in SEGMENT_SLUGS}
    campaigns = {
        slug: Campaign.objects.create(name=slug, slug=slug, channel="email")
        for slug in CAMPAIGN_SLUGS[:2]
    }
    for n, person in enumerate(PEOPLE):
        profile = Profile.objects.create(**person["fields"])
        for i, (name, occurred_at, amount, properties) in enumerate(person["events"]):
            Event.objects.create(
                profile=profile,
                name=name,
                occurred_at=occurred_at,
                amount=None if amount is None else Decimal(amount),
                properties=properties,
                key=f"event-{n}-{i}",
            )
        for slug, expires_at in person["tags"]:
            ProfileTag.objects.create(profile=profile, tag=tags[slug], expires_at=expires_at)
        for slug in person["segments"]:
            SegmentMembership.objects.create(segment=segments[slug], profile=profile)
        for sent in person["sends"]:
            send = Send.objects.create(
                campaign=campaigns[sent["campaign"]],
                profile=profile,
                status=sent["status"],
                sent_at=sent["sent_at"],
            )
            for kind, at in sent["tracking"]:
                TrackingEvent.objects.create(send=send, kind=kind, at=at)
    return PEOPLE


# Plain Python evaluation of rule JSON over PEOPLE.

COMPARE = {
    "eq": operator.eq,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "between": lambda x, pair: pair[0] <= x <= pair[1],
}
NEGATIONS = {"ne": "eq", "not_in": "in", "is_not_set": "is_set"}
MISSING = object()


def as_decimal(number) -> Decimal:
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def json_kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"


def day_start(day: datetime.date, later: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(
        day + datetime.timedelta(days=later), datetime.time(), SHANGHAI
    )


def moment(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


def datetime_holds(x: datetime.datetime, op: str, value) -> bool:
    if op == "between":
        return datetime_holds(x, "gte", value[0]) and datetime_holds(x, "lte", value[1])
    if "T" in value:
        return COMPARE[op](x, moment(value))
    day = datetime.date.fromisoformat(value)
    return {
        "eq": day_start(day) <= x < day_start(day, 1),
        "lt": x < day_start(day),
        "lte": x < day_start(day, 1),
        "gt": x >= day_start(day, 1),
        "gte": x >= day_start(day),
    }[op]


def field_holds(name: str, op: str, value, fields: dict) -> bool:
    x = fields[name]
    kind = PROFILE_ATTRIBUTES[name].name
    if op == "is_set":
        return x is not None and x != ""
    if x is None:
        return False
    if op == "in":
        return any(field_holds(name, "eq", item, fields) for item in value)
    if op == "eq" and name in PLACE_SPELLINGS:  # a place matches in every spelling it has
        return x in PLACE_SPELLINGS[name](value)
    if op == "contains":
        return value in x
    if op == "startswith":
        return x.startswith(value)
    if op in ("within_last_days", "more_than_days_ago"):
        now, since = (NOW, NOW - datetime.timedelta(days=value))
        if kind == "date":
            now, since = TODAY, TODAY - datetime.timedelta(days=value)
        return since <= x <= now if op == "within_last_days" else x < since
    if kind == "datetime":
        return datetime_holds(x, op, value)
    if kind == "date":
        convert = datetime.date.fromisoformat
    elif kind == "decimal":
        convert = as_decimal
    else:
        convert = str if kind in ("text", "choice") else int
    operand = [convert(v) for v in value] if op == "between" else convert(value)
    return COMPARE[op](x, operand)


def trait_holds(key: str, op: str, value, traits: dict) -> bool:
    x = traits.get(key, MISSING)
    if op == "is_set":
        return x is not MISSING and x is not None and x != ""
    if op == "in":
        return any(trait_holds(key, "eq", item, traits) for item in value)
    sample = value[0] if op == "between" else value
    if json_kind(x) != json_kind(sample):
        return False
    if op == "contains":
        return value in x
    if op == "startswith":
        return x.startswith(value)
    return COMPARE[op](x, value)


def properties_match(where: dict, properties: dict) -> bool:
    """Return whether every property of ``where`` has its value, of the same JSON type."""
    return all(
        key in properties
        and json_kind(properties[key]) == json_kind(value)
        and properties[key] == value
        for key, value in where.items()
    )


def event_holds(rule: dict, person: dict) -> bool:
    since = NOW - datetime.timedelta(days=rule["within_days"])
    found = [
        (name, amount)
        for name, occurred_at, amount, properties in person["events"]
        if name == rule["event"]
        and since <= occurred_at <= NOW
        and properties_match(rule.get("where", {}), properties)
    ]
    if "count" in rule:
        ((op, value),) = rule["count"].items()
        measure = len(found)
    else:
        ((op, value),) = rule["value"].items()
        measure = sum((Decimal(a) for _name, a in found if a is not None), Decimal(0))
        value = [as_decimal(v) for v in value] if op == "between" else as_decimal(value)
    if op == "ne":
        return measure != value
    return COMPARE[op](measure, value)


def message_holds(rule: dict, person: dict) -> bool:
    since = NOW - datetime.timedelta(days=rule["within_days"])
    sends = [s for s in person["sends"] if rule.get("campaign", s["campaign"]) == s["campaign"]]
    if rule["message"] == "received":
        return any(s["status"] == "sent" and since <= s["sent_at"] <= NOW for s in sends)
    kind = {"opened": "open", "clicked": "click"}[rule["message"]]
    return any(k == kind and since <= at <= NOW for s in sends for k, at in s["tracking"])


def holds(rule: dict, person: dict) -> bool:
    """Return whether ``person`` satisfies rule JSON ``rule``, the slow and obvious way."""
    if "all" in rule:
        return all(holds(child, person) for child in rule["all"])
    if "any" in rule:
        return any(holds(child, person) for child in rule["any"])
    if "not" in rule:
        return not holds(rule["not"], person)
    if "tag" in rule:
        carrying = any(
            slug == rule["tag"] and (expires is None or expires > NOW)
            for slug, expires in person["tags"]
        )
        return carrying if rule["op"] == "has" else not carrying
    if "segment" in rule:
        return rule["segment"] in person["segments"]
    if "event" in rule:
        return event_holds(rule, person)
    if "message" in rule:
        return message_holds(rule, person)
    op = rule["op"]
    if op in NEGATIONS:
        return not holds({**rule, "op": NEGATIONS[op]}, person)
    name, value = rule["attr"], rule.get("value")
    if name.startswith("traits."):
        return trait_holds(name.removeprefix("traits."), op, value, person["fields"]["traits"])
    return field_holds(name, op, value, person["fields"])


# Strategies for valid rules, driven by the operator tables of segments.rules.

ISO_DATES = sorted(
    {d.isoformat() for d in DATES if d}
    | {"2024-01-31", "2024-02-01", (TODAY - datetime.timedelta(days=9)).isoformat()}
)
ISO_MOMENTS = sorted(
    {m.isoformat() for m in MOMENTS if m}
    | {"2024-01-31T23:59:59", "2024-02-01T00:00:00+08:00", "2024-01-31T16:00:00Z"}
)
SUMS = [0, 0.1, 0.3, 99.99, 100, 100.5, 200, 300.5, -1]
TEXT_POOL = [*TEXTS, "hai", "HAI", "@example.com", "@Example", "+86138", "P1", "gold"]


def pairs(values) -> st.SearchStrategy:
    return st.lists(st.sampled_from(values), min_size=2, max_size=2).map(sorted)


def scalars(values) -> dict[str, st.SearchStrategy]:
    """Return the value strategy for each operator shape, over ``values``."""
    return {
        "one": st.sampled_from(values),
        "pair": pairs(values),
        "list": st.lists(st.sampled_from(values), min_size=1, max_size=3),
        "days": st.sampled_from([1, 5, 7, 9, 10, 30, 365, 400]),
    }


# The local days of the data's moments: a whole-day comparison then meets values inside it.
MOMENT_DAYS = sorted({m.astimezone(SHANGHAI).date().isoformat() for m in MOMENTS if m})
AWARE_MOMENTS = [m for m in ISO_MOMENTS if "+" in m or "Z" in m]
VALUES = {
    "text": scalars(TEXT_POOL),
    "whole": scalars(NUMBERS),
    "decimal": scalars([0, 0.1, 99.99, 100, 300.5, -5]),
    "date": scalars(ISO_DATES),
    "datetime": {
        **scalars(ISO_MOMENTS),
        "one": st.sampled_from(MOMENT_DAYS) | st.sampled_from(ISO_MOMENTS),
        "pair": pairs(MOMENT_DAYS) | pairs(AWARE_MOMENTS),
    },
}
TRAIT_TEXTS = ["gold", "Gold", "silver", "", "7", "old", "G"]
TRAIT_NUMBERS = [7, 7.0, 7.5, 10, 0, -1]
TRAIT_SCALARS = [*TRAIT_TEXTS, *TRAIT_NUMBERS, True, False]


def trait_values(op: str) -> st.SearchStrategy:
    if op in ("eq", "ne"):
        return st.sampled_from(TRAIT_SCALARS)
    if op in ("in", "not_in"):
        return st.lists(st.sampled_from(TRAIT_SCALARS), min_size=1, max_size=3)
    if op == "between":
        return pairs(TRAIT_TEXTS) | pairs(TRAIT_NUMBERS)
    if op in ("contains", "startswith"):
        return st.sampled_from([t for t in TRAIT_TEXTS if t])
    return st.sampled_from([t for t in TRAIT_SCALARS if not isinstance(t, bool)])


def attribute_values(name: str, op: str) -> st.SearchStrategy:
    vtype = PROFILE_ATTRIBUTES.get(name, TRAIT)
    shape = OPERATORS[op]
    if vtype is TRAIT:
        return trait_values(op)
    if vtype.name == "choice":
        choices = list(Gender.values if name == "gender" else ValueTier.values)
        return scalars(choices)[shape]
    if op in ("contains", "startswith"):
        return st.sampled_from([t for t in TEXT_POOL if t])
    return VALUES[vtype.name][shape]


# Attributes by value type, so that each type is drawn as often as the others.
BY_TYPE: dict[str, list[str]] = {"trait": [f"traits.{key}" for key in TRAIT_KEYS]}
for _name, _vtype in PROFILE_ATTRIBUTES.items():
    BY_TYPE.setdefault(_vtype.name, []).append(_name)


@st.composite
def attribute_rules(draw, type_name: str | None = None, op: str | None = None) -> dict:
    type_name = type_name or draw(st.sampled_from(sorted(BY_TYPE)))
    name = draw(st.sampled_from(BY_TYPE[type_name]))
    op = op or draw(st.sampled_from(PROFILE_ATTRIBUTES.get(name, TRAIT).ops))
    rule = {"attr": name, "op": op}
    if OPERATORS[op] != "none":
        rule["value"] = draw(attribute_values(name, op))
    return rule


# Where: property values of each JSON type, some no event has; a key no event has.
WHERE_VALUES = {**PROPERTY_VALUES, "category": ["beauty", "Beauty", "food", ""], "missing": ["x"]}
WHERE_VALUES["price"] = [1, 1.0, 2.5, "1", True]
WHERES = st.dictionaries(
    st.sampled_from(sorted(WHERE_VALUES)), st.just(None), min_size=1, max_size=2
).flatmap(
    lambda keys: st.fixed_dictionaries({key: st.sampled_from(WHERE_VALUES[key]) for key in keys})
)


@st.composite
def event_rules(
    draw, measure: str | None = None, op: str | None = None, where: bool | None = None
) -> dict:
    rule = {
        "event": draw(st.sampled_from([*EVENT_NAMES, "page_view"])),
        "within_days": draw(st.sampled_from([1, 5, 7, 30, 365])),
    }
    if where or (where is None and draw(st.booleans())):
        rule["where"] = draw(WHERES)
    op = op or draw(st.sampled_from(AGGREGATE_OPS))
    if (measure or draw(st.sampled_from(["count", "sum"]))) == "count":
        counts = [0, 1, 2]
        rule["count"] = {op: draw(pairs(counts) if op == "between" else st.sampled_from(counts))}
    else:
        rule["sum"] = "amount"
        rule["value"] = {op: draw(pairs(SUMS) if op == "between" else st.sampled_from(SUMS))}
    return rule


TAG_CONDITIONS = st.builds(
    lambda tag, op: {"tag": tag, "op": op}, st.sampled_from(TAG_SLUGS), st.sampled_from(TAG_OPS)
)
SEGMENT_CONDITIONS = st.builds(lambda slug: {"segment": slug}, st.sampled_from(SEGMENT_SLUGS))


@st.composite
def message_rules(draw, message: str | None = None) -> dict:
    rule = {"message": message or draw(st.sampled_from(MESSAGE_EVENTS))}
    campaign = draw(st.sampled_from([None, *CAMPAIGN_SLUGS]))
    if campaign is not None:
        rule["campaign"] = campaign
    rule["within_days"] = draw(st.sampled_from([1, 5, 7, 30, 365]))
    return rule


# One strategy per value type and operator, per event measure and operator, and for tags and
# segments: each is tested on its own so that no operator is left to chance.
CONDITIONS = {
    **{
        f"{type_name}-{op}": attribute_rules(type_name, op)
        for type_name, names in sorted(BY_TYPE.items())
        for op in PROFILE_ATTRIBUTES.get(names[0], TRAIT).ops
    },
    **{
        f"{measure}-{op}{'-where' if where else ''}": event_rules(measure, op, where)
        for measure in ("count", "sum")
        for op in AGGREGATE_OPS
        for where in (False, True)
    },
    "tag": TAG_CONDITIONS,
    "segment": SEGMENT_CONDITIONS,
    **{f"message-{message}": message_rules(message) for message in MESSAGE_EVENTS},
}
LEAVES = st.one_of(
    attribute_rules(), event_rules(), TAG_CONDITIONS, SEGMENT_CONDITIONS, message_rules()
)
VALID_RULES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=8,
)


def selected(rule, plan: str = "grouped") -> set[str]:
    tree = parse_rule(rule, resolve=SEGMENT_RULES.get)
    # grouped: "any" of events as hashed IN sets, "none" as NOT EXISTS; correlated: EXISTS probes
    hashed = exists_windows(tree) if plan == "grouped" else frozenset()
    condition = compile_rule(tree, now=NOW, plan=plan, hashed=frozenset(hashed))
    return set(Profile.objects.filter(condition).values_list("external_id", flat=True))


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("kind", sorted(CONDITIONS))
@settings(HYPOTHESIS, max_examples=max(10, HYPOTHESIS.max_examples // 10))
@given(data=st.data())
def test_each_kind_of_condition_selects_what_a_plain_python_evaluation_selects(
    dataset, kind, plan, data
):
    condition = data.draw(CONDITIONS[kind], label="condition")
    expected = {p["fields"]["external_id"] for p in dataset if holds(condition, p)}

    members = selected(condition, plan)

    assert members == expected


@pytest.mark.parametrize("plan", PLANS)
@HYPOTHESIS
@given(rule=VALID_RULES)
def test_random_valid_rules_select_what_a_plain_python_evaluation_selects(dataset, plan, rule):
    expected = {p["fields"]["external_id"] for p in dataset if holds(rule, p)}

    members = selected(rule, plan)

    assert members == expected


@HYPOTHESIS
@given(rule=VALID_RULES)
def test_every_member_of_a_random_rule_is_one_of_its_candidates(dataset, rule):
    members = {p["fields"]["external_id"] for p in dataset if holds(rule, p)}

    condition = rule_candidates(parse_rule(rule, resolve=SEGMENT_RULES.get), now=NOW)

    profiles = Profile.objects.all() if condition is None else Profile.objects.filter(condition)
    assert members <= set(profiles.values_list("external_id", flat=True))


@pytest.mark.parametrize("plan", PLANS)
@HYPOTHESIS
@given(rules=st.lists(VALID_RULES, min_size=1, max_size=3))
def test_rules_evaluated_together_on_shared_measures_select_the_same(dataset, plan, rules):
    trees = [parse_rule(rule, resolve=SEGMENT_RULES.get) for rule in rules]
    plan = shared_measures(
        set().union(*(measure_keys(tree) for tree in trees)),
        tags=set().union(*(tag_slugs(tree) for tree in trees)),
        profile_columns=profile_columns(trees),
        common=common_conditions(trees),
        # correlated: the tables hold only the union of the rules' candidates (if any is known)
        candidates=shared_candidates(trees, now=NOW, plan=plan),
        profiling_checked=all(uses_behaviour(tree) for tree in trees),
    )
    assert plan.profiles is not None  # every condition kind says which columns it reads
    shared_measures_fill(plan=plan, now=NOW)

    try:
        for rule, tree in zip(rules, trees, strict=True):
            ids = shared_matching(tree, now=NOW, shared=plan)
            members = set(Profile.objects.filter(pk__in=ids).values_list("external_id", flat=True))
            assert members == {p["fields"]["external_id"] for p in dataset if holds(rule, p)}
    finally:
        shared_measures_drop(plan=plan)


# Junk.

VOCABULARY = [
    *("all", "any", "not", "attr", "op", "value", "tag", "event", "within_days", "count"),
    *("sum", "segment", "consent", "stage", "amount", "traits.score", "city", "signup_at"),
    *("where", "category", "beauty", "message", "campaign", "spring", *MESSAGE_EVENTS),
    *OPERATORS,
    *AGGREGATE_OPS,
    *TAG_OPS,
    "granted",
    "reached",
    "email",
    "buyers",
]
NASTY_TEXT = ["", "\x00", "a\x00b", "\ud800", "\udfff", "x" * 10_000, "2024-02-30", "9999-12-31"]
TEXT = st.one_of(st.sampled_from(VOCABULARY), st.sampled_from(NASTY_TEXT), st.text(max_size=20))
NUMBER = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**12 + 1, 1e308, -0.0]),
)
JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(TEXT, children, max_size=4),
    ),
    max_leaves=12,
)


def nested(depth: int, kind: str) -> dict:
    rule = {"tag": "vip", "op": "has"}
    for _level in range(depth):
        rule = {"not": rule} if kind == "not" else {kind: [rule]}
    return rule


def mutate(rule, junk, choice: int, add_key: bool):
    """Return a copy of ``rule`` with one node's value replaced by junk, or a key added (never
    to a ``where``, whose keys are any property names)."""
    rule = copy.deepcopy(rule)
    nodes, closed = [], []

    def collect(node, key=None):
        if isinstance(node, dict):
            nodes.append(node)
            if key != "where":
                closed.append(node)
            for name, child in node.items():
                collect(child, name)
        elif isinstance(node, list):
            for child in node:
                collect(child)

    collect(rule)
    node = (closed if add_key else nodes)[choice % len(closed if add_key else nodes)]
    if add_key:
        node["extra" if "extra" not in node else "unknown"] = junk
    else:
        keys = sorted(node)
        node[keys[choice % len(keys)]] = junk
    return rule


def refused_or_runs(rule) -> None:
    """Parse ``rule``: a RuleError is fine; anything accepted must compile and run."""
    before = repr(rule)
    try:
        tree = parse_rule(rule, resolve=SEGMENT_RULES.get)
    except RuleError as error:
        assert repr(rule) == before
        assert "\x00" not in str(error)
        assert str(error).encode("utf-8")  # safe to show in a page or a JSON answer
        return
    assert repr(rule) == before
    try:
        condition = compile_rule(tree, now=NOW)
    except RuleError:
        return
    Profile.objects.filter(condition).count()


@HYPOTHESIS
@given(junk=JUNK)
def test_random_junk_is_refused_with_a_rule_error_or_runs(dataset, junk):
    refused_or_runs(junk)


@HYPOTHESIS
@given(
    rule=VALID_RULES, junk=JUNK, choice=st.integers(min_value=0, max_value=100), add=st.booleans()
)
def test_valid_rules_with_junk_in_one_place_are_refused_cleanly(dataset, rule, junk, choice, add):
    broken = mutate(rule, junk, choice, add)

    if add:  # an unknown key is never accepted
        with pytest.raises(RuleError):
            parse_rule(broken, resolve=SEGMENT_RULES.get)
    else:
        refused_or_runs(broken)


@HYPOTHESIS
@given(
    depth=st.integers(min_value=MAX_DEPTH + 1, max_value=400),
    kind=st.sampled_from(["all", "any", "not"]),
)
def test_deep_nesting_is_refused(depth, kind):
    rule = nested(depth, kind)

    with pytest.raises(RuleError):
        parse_rule(rule)
