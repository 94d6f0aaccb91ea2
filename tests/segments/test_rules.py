"""Parsing segment rules: every operator and condition kind, accepted and refused by path.

No test here is marked for the database: pytest-django refuses any query, so these also show
that parsing never touches it.
"""

import copy
import dataclasses
import datetime
from decimal import Decimal

import pytest

from segments.conditions import condition_kinds
from segments.rules import (
    AGGREGATE_OPS,
    ERROR_BOOLEAN_OP,
    ERROR_COUNT_AND_SUM,
    ERROR_COUNT_OR_SUM,
    ERROR_EXPECTED_CHOICE,
    ERROR_EXPECTED_COMPARISON,
    ERROR_EXPECTED_CONDITION,
    ERROR_EXPECTED_DATE,
    ERROR_EXPECTED_DATE_OR_TIME,
    ERROR_EXPECTED_DAYS,
    ERROR_EXPECTED_LIST,
    ERROR_EXPECTED_NUMBER,
    ERROR_EXPECTED_PAIR,
    ERROR_EXPECTED_SCALAR,
    ERROR_EXPECTED_SLUG,
    ERROR_EXPECTED_TEXT,
    ERROR_EXPECTED_WHERE,
    ERROR_EXPECTED_WHOLE,
    ERROR_GROUP_EMPTY,
    ERROR_GROUP_NOT_LIST,
    ERROR_MANY_KINDS,
    ERROR_MISSING_KEY,
    ERROR_NO_KIND,
    ERROR_NO_VALUE_EXPECTED,
    ERROR_OP_NOT_FOR_ATTRIBUTE,
    ERROR_PAIR_KINDS,
    ERROR_PAIR_ORDER,
    ERROR_PROPERTY_NAME,
    ERROR_SEGMENT_CYCLE,
    ERROR_SEGMENT_INVALID,
    ERROR_SEGMENT_TOO_DEEP,
    ERROR_SUM_FIELD,
    ERROR_TEXT_EMPTY,
    ERROR_TEXT_INVALID,
    ERROR_TEXT_OP,
    ERROR_TEXT_TOO_LONG,
    ERROR_TOO_DEEP,
    ERROR_TOO_MANY,
    ERROR_TRAIT_KEY,
    ERROR_UNKNOWN_ATTRIBUTE,
    ERROR_UNKNOWN_CHANNEL,
    ERROR_UNKNOWN_KEY,
    ERROR_UNKNOWN_OP,
    ERROR_UNKNOWN_SEGMENT,
    MAX_CONDITIONS,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_NAME,
    MAX_NUMBER,
    MAX_REFERENCE_DEPTH,
    MAX_TEXT,
    MAX_WHERE,
    MAX_WHOLE,
    MAX_YEAR,
    MIN_YEAR,
    OPERATORS,
    PROFILE_ATTRIBUTES,
    TAG_OPS,
    TRAIT,
    AllOf,
    AttributeCondition,
    EventCondition,
    Not,
    PropertyEquals,
    RuleError,
    SegmentCondition,
    attribute_types,
    parse_rule,
    referenced_segments,
    rule_to_json,
)

# The example of docs/CONTRACTS.md, "Segment rule JSON".
PRODUCT_EXAMPLE = {
    "all": [
        {"attr": "city", "op": "in", "value": ["上海", "北京"]},
        {"attr": "traits.membership", "op": "eq", "value": "gold"},
        {"attr": "signup_at", "op": "within_last_days", "value": 365},
        {"tag": "coupon-lover", "op": "has"},
        {"event": "purchase", "within_days": 90, "count": {"gte": 2}},
        {"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gt": 500}},
        {
            "event": "purchase",
            "where": {"category": "beauty"},
            "within_days": 90,
            "count": {"gte": 1},
        },
        {"message": "opened", "campaign": "spring-sale", "within_days": 30},
        {
            "any": [
                {"event": "feedback", "within_days": 180, "count": {"eq": 0}},
                {"not": {"segment": "complainers"}},
            ]
        },
        {"consent": "email", "op": "granted"},
        {"stage": "repurchase", "op": "reached"},
    ]
}
SEGMENTS = {"complainers": {"tag": "complainer", "op": "has"}}

# A good value for each (value type, operator shape); "none" takes no value.
GOOD_VALUES = {
    "text": {"one": "上海", "pair": ["A", "M"], "list": ["上海", "北京"]},
    "choice": {"one": None, "list": None},  # filled from the attribute's choices below
    "whole": {"one": 3, "pair": [1, 5], "list": [1, 2, 3]},
    "decimal": {"one": 99.5, "pair": [0, 1000], "list": [0, 100]},
    "date": {"one": "1990-05-01", "pair": ["1980-01-01", "1999-12-31"]},
    "datetime": {"one": "2024-01-31T09:30:00+08:00", "pair": ["2024-01-01", "2024-12-31"]},
    "trait": {"one": "gold", "pair": [1, 10], "list": ["gold", 3, True]},
}
CHOICES = {"gender": ["female", "male"], "value_tier": ["high", "mid"]}


def good_value(name: str, vtype, op: str):
    shape = OPERATORS[op]
    if shape == "days":
        return 30
    if vtype.name == "choice":
        return CHOICES[name][0] if shape == "one" else CHOICES[name]
    return GOOD_VALUES[vtype.name][shape]


def attr(name: str, op: str, *value) -> dict:
    rule = {"attr": name, "op": op}
    if value:
        rule["value"] = value[0]
    return rule


ALL_ATTRIBUTES = [*PROFILE_ATTRIBUTES.items(), ("traits.membership", TRAIT)]
ACCEPTED_ATTRIBUTE_RULES = [
    pytest.param(
        attr(name, op) if OPERATORS[op] == "none" else attr(name, op, good_value(name, vtype, op)),
        id=f"{name}-{op}",
    )
    for name, vtype in ALL_ATTRIBUTES
    for op in vtype.ops
]
REFUSED_ATTRIBUTE_OPS = [
    pytest.param(name, vtype, op, id=f"{name}-{op}")
    for name, vtype in ALL_ATTRIBUTES
    for op in OPERATORS
    if op not in vtype.ops
]


def refusal(rule, **kwargs) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rule(rule, **kwargs)
    return caught.value


@pytest.mark.parametrize("rule", ACCEPTED_ATTRIBUTE_RULES)
def test_every_operator_of_every_attribute_is_accepted_and_round_trips(rule):
    original = copy.deepcopy(rule)

    tree = parse_rule(rule)

    assert isinstance(tree, AttributeCondition)
    assert rule_to_json(tree) == original
    assert parse_rule(rule_to_json(tree)) == tree
    assert rule == original


@pytest.mark.parametrize(("name", "vtype", "op"), REFUSED_ATTRIBUTE_OPS)
def test_operators_that_do_not_fit_an_attribute_are_refused_on_op(name, vtype, op):
    rule = attr(name, op) if OPERATORS[op] == "none" else attr(name, op, 1)

    error = refusal({"all": [{"tag": "vip", "op": "has"}, rule]})

    assert error.path == "all[1].op"
    assert error.message == ERROR_OP_NOT_FOR_ATTRIBUTE.format(
        op=op, attr=name, ops=", ".join(vtype.ops)
    )


def test_the_example_of_the_product_spec_parses_and_round_trips():
    original = copy.deepcopy(PRODUCT_EXAMPLE)

    tree = parse_rule(PRODUCT_EXAMPLE, resolve=SEGMENTS.get)

    assert rule_to_json(tree) == original
    assert parse_rule(rule_to_json(tree), resolve=SEGMENTS.get) == tree
    assert original == PRODUCT_EXAMPLE
    assert referenced_segments(tree) == {"complainers"}


def test_every_condition_kind_is_in_the_product_example():
    kinds = set()

    def collect(node):
        kinds.update(key for key in condition_kinds() if key in node)
        for child in node.get("all", []) + node.get("any", []):
            collect(child)
        if "not" in node:
            collect(node["not"])

    collect(PRODUCT_EXAMPLE)

    assert kinds == set(condition_kinds())


def test_the_tree_is_immutable_and_holds_typed_operands():
    rule = {
        "all": [
            {"attr": "monetary", "op": "gt", "value": 99.5},
            {"attr": "signup_at", "op": "between", "value": ["2024-01-01", "2024-12-31"]},
            {"event": "purchase", "within_days": 30, "sum": "amount", "value": {"gte": 100}},
        ]
    }

    tree = parse_rule(rule)

    assert isinstance(tree, AllOf)
    assert tree.children[0].operand == Decimal("99.5")
    assert tree.children[1].operand == (datetime.date(2024, 1, 1), datetime.date(2024, 12, 31))
    assert tree.children[2] == EventCondition("purchase", 30, "sum", "gte", 100)
    assert tree.children[2].operand == Decimal(100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.children[0].op = "lt"


def test_event_properties_are_kept_sorted_and_typed_and_round_trip():
    rule = event(
        count={"gte": 1}, where={"size": 1, "category": "美妆", "gift": True, "会员 等级": ""}
    )

    tree = parse_rule(rule)

    assert tree.where == (
        PropertyEquals("category", "text", "美妆"),
        PropertyEquals("gift", "boolean", True),
        PropertyEquals("size", "number", 1),
        PropertyEquals("会员 等级", "text", ""),
    )
    assert rule_to_json(tree) == rule
    assert list(rule_to_json(tree)) == ["event", "where", "within_days", "count"]
    assert parse_rule(rule_to_json(tree)) == tree


def test_event_properties_of_different_json_types_are_different_conditions():
    def where(value):
        return parse_rule(event(count={"gte": 1}, where={"size": value}))

    assert where(1) == where(1.0)  # numbers compare as numbers
    assert where(1) != where(True)  # though 1 == True in Python
    assert where(1) != where("1")
    assert where(1) != parse_rule(event(count={"gte": 1}))
    assert len({where(1), where(True), where(0), where(False)}) == 4


def test_datetimes_with_and_without_an_offset_are_accepted():
    aware = {"attr": "last_seen_at", "op": "gte", "value": "2024-01-31T09:30:00Z"}
    naive = {"attr": "last_seen_at", "op": "gte", "value": "2024-01-31 09:30"}

    aware_tree, naive_tree = parse_rule(aware), parse_rule(naive)

    assert aware_tree.operand == datetime.datetime(2024, 1, 31, 9, 30, tzinfo=datetime.UTC)
    assert naive_tree.operand == datetime.datetime(2024, 1, 31, 9, 30)


def test_trait_comparisons_accept_numbers_text_and_booleans_where_they_fit():
    rules = [
        {"attr": "traits.score", "op": "between", "value": [1.5, 10]},
        {"attr": "traits.membership", "op": "between", "value": ["a", "m"]},
        {"attr": "traits.vip", "op": "ne", "value": False},
        {"attr": "traits.level", "op": "not_in", "value": [1, "1", True]},
        {"attr": "traits.会员 等级", "op": "startswith", "value": "金"},
        {"attr": "traits.loyalty.level:2", "op": "gte", "value": 2},
    ]

    trees = [parse_rule(rule) for rule in rules]

    assert [rule_to_json(tree) for tree in trees] == rules


def test_a_rule_in_a_group_not_and_nested_groups_gives_the_expected_tree():
    rule = {"any": [{"not": {"segment": "vip"}}, {"all": [{"tag": "a", "op": "has_not"}]}]}

    tree = parse_rule(rule)

    assert tree.children[0] == Not(SegmentCondition("vip"))
    assert rule_to_json(tree) == rule


# Refusals: (rule, path, message). Paths name the node at fault.
OK = {"tag": "vip", "op": "has"}
KINDS = ", ".join(condition_kinds())
ATTRS = ", ".join(attribute_types())  # profile fields and registered attributes
OPS = ", ".join(OPERATORS)
AGG = ", ".join(AGGREGATE_OPS)
WHOLE = ERROR_EXPECTED_WHOLE.format(low=-MAX_WHOLE, high=MAX_WHOLE)
COUNT = ERROR_EXPECTED_WHOLE.format(low=0, high=MAX_WHOLE)
NUMBER = ERROR_EXPECTED_NUMBER.format(low=-MAX_NUMBER, high=MAX_NUMBER)
DATE = ERROR_EXPECTED_DATE.format(low=MIN_YEAR, high=MAX_YEAR)
DATE_OR_TIME = ERROR_EXPECTED_DATE_OR_TIME.format(low=MIN_YEAR, high=MAX_YEAR)
DAYS = ERROR_EXPECTED_DAYS.format(limit=MAX_DAYS)
LIST = ERROR_EXPECTED_LIST.format(limit=MAX_LIST)
SLUG = ERROR_EXPECTED_SLUG.format(limit=MAX_NAME)
EVENT = {"event": "purchase", "within_days": 90}
WHERE = ERROR_EXPECTED_WHERE.format(limit=MAX_WHERE)
TOO_LONG = ERROR_TEXT_TOO_LONG.format(limit=MAX_TEXT)


def event(**extra) -> dict:
    return {**EVENT, **extra}


def property_name(key: str) -> str:
    return ERROR_PROPERTY_NAME.format(
        key=key if len(key) <= MAX_NAME else key[:MAX_NAME] + "…", limit=MAX_NAME - 1
    )


REFUSALS = [
    # Nodes and groups.
    ([], "rule", ERROR_EXPECTED_CONDITION),
    ("city = 上海", "rule", ERROR_EXPECTED_CONDITION),
    ({}, "rule", ERROR_NO_KIND.format(kinds=KINDS)),
    ({"city": "上海"}, "rule", ERROR_NO_KIND.format(kinds=KINDS)),
    (
        {"attr": "city", "tag": "vip", "op": "has"},
        "rule",
        ERROR_MANY_KINDS.format(kinds=KINDS, found="attr, tag"),
    ),
    ({"all": OK}, "all", ERROR_GROUP_NOT_LIST),
    ({"any": []}, "any", ERROR_GROUP_EMPTY),
    ({"all": [OK, OK, 3]}, "all[2]", ERROR_EXPECTED_CONDITION),
    ({"all": [OK], "name": "x"}, "rule", ERROR_UNKNOWN_KEY.format(key="name", allowed="all")),
    ({"not": [OK]}, "not", ERROR_EXPECTED_CONDITION),
    (
        {"any": [OK, {"not": {"all": [OK, {}]}}]},
        "any[1].not.all[1]",
        ERROR_NO_KIND.format(kinds=KINDS),
    ),
    # Attributes.
    (attr("age", "gt", 3), "attr", ERROR_UNKNOWN_ATTRIBUTE.format(attr="age", fields=ATTRS)),
    (attr(5, "gt", 3), "attr", ERROR_UNKNOWN_ATTRIBUTE.format(attr="…", fields=ATTRS)),
    (attr("traits.", "eq", 3), "attr", ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)),
    (attr("traits..b", "eq", 3), "attr", ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)),
    (attr('traits.a"b', "eq", 3), "attr", ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)),
    (attr("traits.  ", "eq", 3), "attr", ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)),
    (attr("traits." + "k" * 65, "eq", 3), "attr", ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)),
    (attr("city", "like", "上"), "op", ERROR_UNKNOWN_OP.format(op="like", ops=OPS)),
    ({"attr": "city", "op": ["eq"], "value": "上"}, "op", ERROR_UNKNOWN_OP.format(op="…", ops=OPS)),
    ({"attr": "city", "op": "eq"}, "rule", ERROR_MISSING_KEY.format(key="value")),
    ({"attr": "city", "value": "上海"}, "rule", ERROR_MISSING_KEY.format(key="op")),
    (attr("city", "is_set", None), "value", ERROR_NO_VALUE_EXPECTED.format(op="is_set")),
    (
        {**attr("city", "eq", "x"), "extra": 1},
        "rule",
        ERROR_UNKNOWN_KEY.format(key="extra", allowed="attr, op, value"),
    ),
    # Text.
    (attr("city", "eq", 5), "value", ERROR_EXPECTED_TEXT),
    (attr("city", "eq", None), "value", ERROR_EXPECTED_TEXT),
    (attr("city", "eq", "x" * (MAX_TEXT + 1)), "value", ERROR_TEXT_TOO_LONG.format(limit=MAX_TEXT)),
    (attr("city", "eq", "上\x00海"), "value", ERROR_TEXT_INVALID),
    (attr("city", "eq", "\ud800"), "value", ERROR_TEXT_INVALID),
    (attr("name", "contains", ""), "value", ERROR_TEXT_EMPTY),
    (attr("name", "startswith", ""), "value", ERROR_TEXT_EMPTY),
    # Choices.
    (
        attr("gender", "eq", "robot"),
        "value",
        ERROR_EXPECTED_CHOICE.format(choices="female, male, other, unknown"),
    ),
    (
        attr("value_tier", "in", ["high", "low"]),
        "value[1]",
        ERROR_EXPECTED_CHOICE.format(choices="high, mid, mass"),
    ),
    # Numbers.
    (attr("recency_days", "lt", 1.5), "value", WHOLE),
    (attr("recency_days", "lt", True), "value", WHOLE),
    (attr("recency_days", "lt", "3"), "value", WHOLE),
    (attr("r_score", "eq", 2**63), "value", WHOLE),
    (attr("monetary", "gt", "500"), "value", NUMBER),
    (attr("monetary", "gt", float("nan")), "value", NUMBER),
    (attr("monetary", "gt", float("inf")), "value", NUMBER),
    (attr("monetary", "gt", 10**13), "value", NUMBER),
    (attr("monetary", "gt", False), "value", NUMBER),
    # Dates and times.
    (attr("birth_date", "eq", "2024-02-30"), "value", DATE),
    (attr("birth_date", "eq", "2024-01-01T00:00"), "value", DATE),
    (attr("birth_date", "eq", "0999-12-31"), "value", DATE),
    (attr("birth_date", "eq", "２０２４-01-01"), "value", DATE),
    (attr("birth_date", "eq", 20240101), "value", DATE),
    (attr("signup_at", "gt", "yesterday"), "value", DATE_OR_TIME),
    (attr("signup_at", "gt", "2024-13-01"), "value", DATE_OR_TIME),
    (attr("signup_at", "gt", "2024-01-01T25:00"), "value", DATE_OR_TIME),
    (attr("signup_at", "gt", "9999-12-31T23:59"), "value", DATE_OR_TIME),
    (attr("signup_at", "gt", "20240131"), "value", DATE_OR_TIME),
    # Ranges and lists.
    (attr("frequency", "between", 3), "value", ERROR_EXPECTED_PAIR),
    (attr("frequency", "between", [1, 2, 3]), "value", ERROR_EXPECTED_PAIR),
    (attr("frequency", "between", [1, "2"]), "value[1]", WHOLE),
    (attr("frequency", "between", [5, 1]), "value", ERROR_PAIR_ORDER),
    (attr("city", "between", ["b", "a"]), "value", ERROR_PAIR_ORDER),
    (attr("signup_at", "between", ["2024-01-01", "2024-06-01T00:00"]), "value", ERROR_PAIR_KINDS),
    (
        attr("signup_at", "between", ["2024-01-01T00:00", "2024-06-01T00:00Z"]),
        "value",
        ERROR_PAIR_KINDS,
    ),
    (attr("traits.score", "between", [1, "9"]), "value", ERROR_PAIR_KINDS),
    (attr("city", "in", []), "value", LIST),
    (attr("city", "in", "上海"), "value", LIST),
    (attr("city", "not_in", ["x"] * (MAX_LIST + 1)), "value", LIST),
    (attr("city", "in", ["上海", 5]), "value[1]", ERROR_EXPECTED_TEXT),
    # Relative dates.
    (attr("signup_at", "within_last_days", 0), "value", DAYS),
    (attr("signup_at", "within_last_days", -3), "value", DAYS),
    (attr("signup_at", "within_last_days", MAX_DAYS + 1), "value", DAYS),
    (attr("birth_date", "more_than_days_ago", "30"), "value", DAYS),
    (attr("birth_date", "more_than_days_ago", 7.5), "value", DAYS),
    # Traits.
    (attr("traits.vip", "gt", True), "value", ERROR_BOOLEAN_OP),
    (attr("traits.vip", "between", [False, True]), "value[0]", ERROR_BOOLEAN_OP),
    (attr("traits.code", "contains", 5), "value", ERROR_TEXT_OP.format(op="contains")),
    (attr("traits.code", "eq", None), "value", ERROR_EXPECTED_SCALAR),
    (attr("traits.code", "eq", [1]), "value", ERROR_EXPECTED_SCALAR),
    (attr("traits.code", "in", [1, {"a": 1}]), "value[1]", ERROR_EXPECTED_SCALAR),
    (attr("traits.code", "eq", 1e300), "value", NUMBER),
    # Tags.
    ({"tag": "vip", "op": "is"}, "op", ERROR_UNKNOWN_OP.format(op="is", ops=", ".join(TAG_OPS))),
    ({"tag": "vip"}, "rule", ERROR_MISSING_KEY.format(key="op")),
    ({"tag": "coupon lover", "op": "has"}, "tag", SLUG),
    ({"tag": "", "op": "has"}, "tag", SLUG),
    ({"tag": "x" * 65, "op": "has"}, "tag", SLUG),
    # Events.
    (
        {"event": "purchase", "count": {"gte": 1}},
        "rule",
        ERROR_MISSING_KEY.format(key="within_days"),
    ),
    (
        event(count={"gte": 1}, filter={"sku": "A"}),
        "rule",
        ERROR_UNKNOWN_KEY.format(
            key="filter", allowed="event, within_days, where, count, sum, value"
        ),
    ),
    # Event properties.
    (event(count={"gte": 1}, where={}), "where", WHERE),
    (event(count={"gte": 1}, where=["category"]), "where", WHERE),
    (event(count={"gte": 1}, where="category=beauty"), "where", WHERE),
    (event(count={"gte": 1}, where={f"p{i}": i for i in range(MAX_WHERE + 1)}), "where", WHERE),
    (event(count={"gte": 1}, where={"": "x"}), "where", property_name("")),
    (event(count={"gte": 1}, where={'a"b': "x"}), "where", property_name('a"b')),
    (event(count={"gte": 1}, where={"-a": "x"}), "where", property_name("-a")),
    (event(count={"gte": 1}, where={"x" * 65: "x"}), "where", property_name("x" * 65)),
    (event(count={"gte": 1}, where={"category": None}), "where.category", ERROR_EXPECTED_SCALAR),
    (event(count={"gte": 1}, where={"category": ["a"]}), "where.category", ERROR_EXPECTED_SCALAR),
    (event(count={"gte": 1}, where={"size": {"gt": 5}}), "where.size", ERROR_EXPECTED_SCALAR),
    (event(count={"gte": 1}, where={"price": 1e300}), "where.price", NUMBER),
    (event(count={"gte": 1}, where={"sku": "x" * 201}), "where.sku", TOO_LONG),
    (event(count={"gte": 1}, where={"sku": "a\x00"}), "where.sku", ERROR_TEXT_INVALID),
    (
        {"any": [OK, {"not": event(sum="amount", value={"gt": 1}, where={"sku": None})}]},
        "any[1].not.where.sku",
        ERROR_EXPECTED_SCALAR,
    ),
    (event(event="", count={"gte": 1}), "event", ERROR_TEXT_EMPTY),
    (event(event=7, count={"gte": 1}), "event", ERROR_EXPECTED_TEXT),
    (event(within_days=0, count={"gte": 1}), "within_days", DAYS),
    (event(within_days="90", count={"gte": 1}), "within_days", DAYS),
    (event(), "rule", ERROR_COUNT_OR_SUM),
    (event(value={"gt": 5}), "rule", ERROR_COUNT_OR_SUM),
    (event(count={"gte": 1}, sum="amount", value={"gt": 5}), "rule", ERROR_COUNT_AND_SUM),
    (event(count=2), "count", ERROR_EXPECTED_COMPARISON.format(example='{"gte": 2}', ops=AGG)),
    (event(count={}), "count", ERROR_EXPECTED_COMPARISON.format(example='{"gte": 2}', ops=AGG)),
    (
        event(count={"gte": 1, "lte": 3}),
        "count",
        ERROR_EXPECTED_COMPARISON.format(example='{"gte": 2}', ops=AGG),
    ),
    (event(count={"in": [1]}), "count", ERROR_UNKNOWN_OP.format(op="in", ops=AGG)),
    (event(count={"gte": -1}), "count.gte", COUNT),
    (event(count={"gte": 1.5}), "count.gte", COUNT),
    (event(count={"gte": None}), "count.gte", COUNT),
    (event(count={"between": 5}), "count.between", ERROR_EXPECTED_PAIR),
    (event(count={"between": [5, 1]}), "count.between", ERROR_PAIR_ORDER),
    (event(count={"between": [1, "5"]}), "count.between[1]", COUNT),
    (event(sum="quantity", value={"gt": 5}), "sum", ERROR_SUM_FIELD),
    (event(sum=["amount"], value={"gt": 5}), "sum", ERROR_SUM_FIELD),
    (event(sum="amount"), "rule", ERROR_MISSING_KEY.format(key="value")),
    (event(sum="amount", value={"gt": "500"}), "value.gt", NUMBER),
    (
        event(sum="amount", value=500),
        "value",
        ERROR_EXPECTED_COMPARISON.format(example='{"gt": 500}', ops=AGG),
    ),
    (event(sum="amount", value={"between": [500, 100]}), "value.between", ERROR_PAIR_ORDER),
    (
        {"all": [OK, OK, event(count={"gte": -1})]},
        "all[2].count.gte",
        COUNT,
    ),
    # Segments, consent, stages.
    ({"segment": "vip club"}, "segment", SLUG),
    ({"segment": "vip", "op": "in"}, "rule", ERROR_UNKNOWN_KEY.format(key="op", allowed="segment")),
    (
        {"consent": "fax", "op": "granted"},
        "consent",
        ERROR_UNKNOWN_CHANNEL.format(op="fax", ops="email, sms, wechat, wecom, push"),
    ),
    (
        {"consent": "email", "op": "withdrawn"},
        "op",
        ERROR_UNKNOWN_OP.format(op="withdrawn", ops="granted"),
    ),
    ({"consent": "email"}, "rule", ERROR_MISSING_KEY.format(key="op")),
    ({"stage": "re purchase", "op": "reached"}, "stage", SLUG),
    (
        {"stage": "repurchase", "op": "left"},
        "op",
        ERROR_UNKNOWN_OP.format(op="left", ops="reached"),
    ),
]


@pytest.mark.parametrize(("rule", "path", "message"), REFUSALS)
def test_invalid_rules_are_refused_with_the_path_of_the_node_at_fault(rule, path, message):
    original = copy.deepcopy(rule)

    error = refusal(rule)

    assert (error.path, error.message) == (path, str(message))
    assert str(error) == f"{path}: {message}"
    assert rule == original


def test_messages_quote_user_input_printably_and_briefly():
    rule = {"all": [OK, {"attr": "city", "op": "eq\x00\ud800" + "x" * 100, "value": "上海"}]}

    error = refusal(rule)

    assert error.message == ERROR_UNKNOWN_OP.format(op="eq\ufffd\ufffd" + "x" * 60 + "…", ops=OPS)
    assert str(error).encode("utf-8")


def test_the_error_of_a_condition_deep_in_groups_names_its_whole_path():
    rule = {"all": [OK, OK, {"any": [OK, {"not": {"attr": "city", "op": "in", "value": []}}]}]}

    error = refusal(rule)

    assert str(error) == f"all[2].any[1].not.value: {LIST}"


def test_groups_nested_deeper_than_the_limit_are_refused():
    rule = OK
    for _level in range(MAX_DEPTH + 1):
        rule = {"not": rule}
    allowed = OK
    for _level in range(MAX_DEPTH):
        allowed = {"all": [allowed]}

    error = refusal(rule)

    assert error.path == ".".join(["not"] * (MAX_DEPTH + 1))
    assert error.message == ERROR_TOO_DEEP.format(limit=MAX_DEPTH)
    assert parse_rule(allowed)


def test_a_rule_with_too_many_conditions_is_refused():
    rule = {"any": [OK] * MAX_CONDITIONS}

    error = refusal(rule)

    assert error.path == f"any[{MAX_CONDITIONS - 1}]"
    assert error.message == ERROR_TOO_MANY.format(limit=MAX_CONDITIONS)


def test_numbers_at_the_limits_are_accepted():
    rules = [
        {"attr": "frequency", "op": "lte", "value": MAX_WHOLE},
        {"attr": "monetary", "op": "gte", "value": -MAX_NUMBER},
        {"attr": "signup_at", "op": "within_last_days", "value": MAX_DAYS},
        {"attr": "birth_date", "op": "gt", "value": f"{MIN_YEAR}-01-01"},
        event(count={"between": [0, MAX_WHOLE]}),
    ]

    trees = [parse_rule(rule) for rule in rules]

    assert [rule_to_json(tree) for tree in trees] == rules


# Segment references.


def test_references_to_known_segments_and_static_lists_are_accepted():
    segments = {"vip": {"segment": "buyers"}, "buyers": OK, "imported": {}}
    rule = {"all": [{"segment": "vip"}, {"segment": "imported"}, {"segment": "buyers"}]}
    asked = []

    def resolve(slug):
        asked.append(slug)
        return segments.get(slug)

    tree = parse_rule(rule, resolve=resolve, slug="new-one")

    assert referenced_segments(tree) == {"vip", "imported", "buyers"}
    assert asked == ["vip", "buyers", "imported"]  # each segment is read once


def test_a_reference_to_an_unknown_segment_is_refused():
    error = refusal({"all": [OK, {"segment": "ghosts"}]}, resolve={}.get)

    assert str(error) == f"all[1].segment: {ERROR_UNKNOWN_SEGMENT.format(slug='ghosts')}"


def test_a_rule_referring_to_its_own_segment_is_refused():
    error = refusal({"any": [OK, {"segment": "loyal"}]}, resolve={"loyal": OK}.get, slug="loyal")

    assert error.path == "any[1].segment"
    assert error.message == ERROR_SEGMENT_CYCLE.format(cycle="loyal → loyal")


def test_a_circle_through_other_segments_is_refused_with_the_circle_spelled_out():
    segments = {
        "a": {"all": [OK, {"segment": "b"}]},
        "b": {"not": {"segment": "c"}},
        "c": {"any": [OK, {"segment": "a"}]},
    }

    error = refusal({"segment": "b"}, resolve=segments.get, slug="a")
    elsewhere = refusal({"all": [{"segment": "a"}]}, resolve=segments.get)

    assert error.path == "segment"
    assert error.message == ERROR_SEGMENT_CYCLE.format(cycle="a → b → c → a")
    assert elsewhere.path == "all[0].segment"
    assert elsewhere.message == ERROR_SEGMENT_CYCLE.format(cycle="a → b → c → a")


def test_a_reference_to_a_segment_whose_rule_is_invalid_is_refused():
    segments = {"broken": {"attr": "city", "op": "eq"}}

    error = refusal({"segment": "broken"}, resolve=segments.get)

    assert error.path == "segment"
    assert error.message == ERROR_SEGMENT_INVALID.format(
        slug="broken", error=f"rule: {ERROR_MISSING_KEY.format(key='value')}"
    )


def test_a_chain_of_references_longer_than_the_limit_is_refused():
    segments = {f"s{i}": {"segment": f"s{i + 1}"} for i in range(MAX_REFERENCE_DEPTH + 2)}
    segments[f"s{MAX_REFERENCE_DEPTH + 2}"] = OK

    error = refusal({"segment": "s0"}, resolve=segments.get)

    assert error.path == "segment"
    assert error.message == ERROR_SEGMENT_TOO_DEEP.format(limit=MAX_REFERENCE_DEPTH)


def test_without_a_resolver_references_are_only_checked_for_form():
    tree = parse_rule({"segment": "anything"})

    assert tree == SegmentCondition("anything")


def test_parsing_never_mutates_the_input():
    rule = copy.deepcopy(PRODUCT_EXAMPLE)
    rule["all"].append({"attr": "traits.level", "op": "in", "value": [1, "1", True]})
    snapshot = copy.deepcopy(rule)

    tree = parse_rule(rule, resolve=SEGMENTS.get)
    rule_to_json(tree)["all"][0]["value"].append("广州")

    assert rule == snapshot
