"""Parse and validate rule JSON into the tree; the parsers of the built-in condition kinds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.validators import slug_unicode_re

from segments.conditions import condition_kinds
from segments.rules.errors import (
    ERROR_COUNT_AND_SUM,
    ERROR_COUNT_OR_SUM,
    ERROR_EXPECTED_COMPARISON,
    ERROR_EXPECTED_CONDITION,
    ERROR_EXPECTED_DAYS,
    ERROR_EXPECTED_LIST,
    ERROR_EXPECTED_PAIR,
    ERROR_EXPECTED_SLUG,
    ERROR_EXPECTED_WHERE,
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
    MAX_REFERENCE_DEPTH,
    MAX_WHERE,
    MAX_WHOLE,
    TRAITS_PREFIX,
    RuleError,
    _ReferenceError,
    index_path,
    key_path,
)
from segments.rules.nodes import (
    AttributeCondition,
    ConsentCondition,
    EventCondition,
    Node,
    Not,
    PropertyEquals,
    SegmentCondition,
    TagCondition,
    freeze,
)
from segments.rules.values import (
    AGGREGATE_OPS,
    CONSENT_CHANNELS,
    CONSENT_OPS,
    OPERATORS,
    TAG_OPS,
    ValueType,
    _Bad,
    _decimal,
    _kind,
    _scalar,
    _text,
    _whole,
    attribute_type,
    attribute_types,
    json_key_valid,
)

Resolver = Callable[[str], Mapping | None]


@dataclass
class ParseContext:
    """Where a parse is: how to read other segments' rules, and what it has counted so far."""

    resolve: Resolver | None
    chain: tuple[str, ...]  # the segments whose rules are being read, outermost first
    checked: set[str]  # segments already followed and found free of circles
    conditions: int = 0


def parse_rule(data: Any, *, resolve: Resolver | None = None, slug: str | None = None) -> Node:
    """Return the tree of rule ``data`` or raise RuleError naming the offending node.

    ``resolve(slug)`` returns the rule of segment ``slug`` (``{}`` for a static list) or None
    when there is no such segment; with it, unknown segments and circles of references are
    refused. ``slug`` is the segment this rule belongs to, so a rule that reaches back to its own
    segment is refused too. Without ``resolve``, segment references are only checked for form.
    """
    chain = (slug,) if slug else ()
    return parse_node(data, "", ParseContext(resolve=resolve, chain=chain, checked=set()), depth=0)


def parse_node(node: Any, path: str, ctx: ParseContext, *, depth: int) -> Node:
    """Return the node of the condition ``node`` found at ``path`` (groups parse their items)."""
    kinds = condition_kinds()
    if not isinstance(node, Mapping):
        raise RuleError(path, ERROR_EXPECTED_CONDITION)
    ctx.conditions += 1
    if ctx.conditions > MAX_CONDITIONS:
        raise RuleError(path, ERROR_TOO_MANY.format(limit=MAX_CONDITIONS))
    found = [kind for kind in kinds if kind in node]
    if not found:
        raise RuleError(path, ERROR_NO_KIND.format(kinds=", ".join(kinds)))
    if len(found) > 1:
        raise RuleError(
            path,
            ERROR_MANY_KINDS.format(kinds=", ".join(kinds), found=", ".join(found)),
        )
    return kinds[found[0]].parser(node, path, ctx, depth)


def check_keys(node: Mapping, path: str, required: tuple[str, ...], optional=()) -> None:
    """Refuse a key not allowed in the node, or a required key missing."""
    allowed = (*required, *optional)
    for key in node:
        if key not in allowed:
            raise RuleError(
                path, ERROR_UNKNOWN_KEY.format(key=shown(str(key)), allowed=", ".join(allowed))
            )
    for key in required:
        if key not in node:
            raise RuleError(path, ERROR_MISSING_KEY.format(key=key))


def shown(raw: Any, limit: int = MAX_NAME) -> str:
    """Return user input to quote in a message: printable, short, safe to encode."""
    if not isinstance(raw, str):
        return "…"
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in raw[:limit])
    return text + "…" if len(raw) > limit else text


def parse_value(check: Callable[[Any], Any], raw: Any, path: str) -> Any:
    """Return ``check(raw)``, a refusal becoming a RuleError at ``path``."""
    try:
        return check(raw)
    except _Bad as bad:
        raise RuleError(path, bad.message) from None


def parse_choice(raw: Any, choices: tuple[str, ...], path: str, message=ERROR_UNKNOWN_OP) -> str:
    """Return ``raw`` if it is one of ``choices``, else refuse it at ``path``."""
    if not isinstance(raw, str) or raw not in choices:
        raise RuleError(path, message.format(op=shown(raw), ops=", ".join(choices)))
    return raw


def parse_slug(raw: Any, path: str) -> str:
    """Return ``raw`` if it is a slug (of a tag, a segment, a stage), else refuse it."""

    def check(value):
        if not isinstance(value, str) or len(value) > MAX_NAME or not slug_unicode_re.match(value):
            raise _Bad(ERROR_EXPECTED_SLUG.format(limit=MAX_NAME))
        return value

    return parse_value(check, raw, path)


def parse_group(kind: str, make: Callable[[tuple], Node]):
    """Return the parser of the group ``kind`` (all, any) building its node with ``make``."""

    def parse(node: Mapping, path: str, ctx: ParseContext, depth: int) -> Node:
        check_keys(node, path, (kind,))
        items_path = key_path(path, kind)
        items = node[kind]
        if not isinstance(items, list | tuple):
            raise RuleError(items_path, ERROR_GROUP_NOT_LIST)
        if not items:
            raise RuleError(items_path, ERROR_GROUP_EMPTY)
        if depth >= MAX_DEPTH:
            raise RuleError(items_path, ERROR_TOO_DEEP.format(limit=MAX_DEPTH))
        return make(
            tuple(
                parse_node(item, index_path(items_path, i), ctx, depth=depth + 1)
                for i, item in enumerate(items)
            )
        )

    return parse


def parse_not(node: Mapping, path: str, ctx: ParseContext, depth: int) -> Not:
    """Parse ``{"not": condition}``."""
    check_keys(node, path, ("not",))
    if depth >= MAX_DEPTH:
        raise RuleError(key_path(path, "not"), ERROR_TOO_DEEP.format(limit=MAX_DEPTH))
    return Not(parse_node(node["not"], key_path(path, "not"), ctx, depth=depth + 1))


def _one(vtype: ValueType, op: str, raw: Any, path: str) -> Any:
    return parse_value(lambda value: vtype.check(op, value), raw, path)


def _pair(vtype: ValueType, op: str, raw: Any, path: str) -> tuple[Any, Any]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise RuleError(path, ERROR_EXPECTED_PAIR)
    low, high = (_one(vtype, op, item, index_path(path, i)) for i, item in enumerate(raw))
    if _kind(low) != _kind(high):
        raise RuleError(path, ERROR_PAIR_KINDS)
    if low > high:
        raise RuleError(path, ERROR_PAIR_ORDER)
    return low, high


def _list(vtype: ValueType, op: str, raw: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(raw, list | tuple) or not 0 < len(raw) <= MAX_LIST:
        raise RuleError(path, ERROR_EXPECTED_LIST.format(limit=MAX_LIST))
    return tuple(_one(vtype, op, item, index_path(path, i)) for i, item in enumerate(raw))


def _check_days(raw: Any) -> int:
    return _whole(raw, low=1, high=MAX_DAYS, message=ERROR_EXPECTED_DAYS)


def parse_days(raw: Any, path: str) -> int:
    """Return ``raw`` if it is a whole number of days (1 to MAX_DAYS), else refuse it."""
    return parse_value(_check_days, raw, path)


def _days(vtype: ValueType, op: str, raw: Any, path: str) -> int:
    return parse_days(raw, path)


# How the value of each operator shape is read (None: the operator takes no value).
VALUE_SHAPES: dict[str, Callable[[ValueType, str, Any, str], Any] | None] = {
    "one": _one,
    "pair": _pair,
    "list": _list,
    "days": _days,
    "none": None,
}


def parse_attribute(node: Mapping, path: str, ctx: ParseContext, depth: int) -> AttributeCondition:
    """Parse ``{"attr": …, "op": …, "value": …}`` against the registered attributes."""
    check_keys(node, path, ("attr", "op"), ("value",))
    attr = node["attr"]
    vtype = attribute_type(attr) if isinstance(attr, str) else None
    if vtype is None:
        message = (
            ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)
            if isinstance(attr, str) and attr.startswith(TRAITS_PREFIX)
            else ERROR_UNKNOWN_ATTRIBUTE.format(
                attr=shown(attr), fields=", ".join(attribute_types())
            )
        )
        raise RuleError(key_path(path, "attr"), message)
    op_path = key_path(path, "op")
    op = parse_choice(node["op"], tuple(OPERATORS), op_path)
    if op not in vtype.ops:
        raise RuleError(
            op_path, ERROR_OP_NOT_FOR_ATTRIBUTE.format(op=op, attr=attr, ops=", ".join(vtype.ops))
        )
    value_path = key_path(path, "value")
    read = VALUE_SHAPES[OPERATORS[op]]
    if read is None:
        if "value" in node:
            raise RuleError(value_path, ERROR_NO_VALUE_EXPECTED.format(op=op))
        return AttributeCondition(attr=attr, op=op)
    if "value" not in node:
        raise RuleError(path, ERROR_MISSING_KEY.format(key="value"))
    operand = read(vtype, op, node["value"], value_path)
    return AttributeCondition(attr=attr, op=op, value=freeze(node["value"]), operand=operand)


def _comparison(raw: Any, path: str, check: Callable[[Any], Any], example: str):
    """Return (op, value, operand) of an aggregate comparison such as {"gte": 2}."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise RuleError(
            path, ERROR_EXPECTED_COMPARISON.format(example=example, ops=", ".join(AGGREGATE_OPS))
        )
    ((op, value),) = raw.items()
    op = parse_choice(op, AGGREGATE_OPS, path)
    value_path = key_path(path, op)
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise RuleError(value_path, ERROR_EXPECTED_PAIR)
        low, high = (
            parse_value(check, item, index_path(value_path, i)) for i, item in enumerate(value)
        )
        if low > high:
            raise RuleError(value_path, ERROR_PAIR_ORDER)
        return op, freeze(value), (low, high)
    return op, value, parse_value(check, value, value_path)


def _event_name(raw: Any) -> str:
    name = _text(raw, limit=MAX_NAME)
    if not name:
        raise _Bad(ERROR_TEXT_EMPTY)
    return name


def _count(raw: Any) -> int:
    return _whole(raw, low=0, high=MAX_WHOLE)


def parse_where(raw: Any, path: str) -> tuple[PropertyEquals, ...]:
    """Return the event properties of ``{"category": "beauty", …}``, sorted by name."""
    if not isinstance(raw, Mapping) or not 0 < len(raw) <= MAX_WHERE:
        raise RuleError(path, ERROR_EXPECTED_WHERE.format(limit=MAX_WHERE))
    found = []
    for key, value in raw.items():
        if not json_key_valid(key):
            raise RuleError(path, ERROR_PROPERTY_NAME.format(key=shown(key), limit=MAX_NAME - 1))
        found.append(PropertyEquals.of(key, parse_value(_scalar, value, key_path(path, key))))
    return tuple(sorted(found))


def parse_event(node: Mapping, path: str, ctx: ParseContext, depth: int) -> EventCondition:
    """Parse an event count or sum over the last ``within_days``, of the events ``where`` keeps."""
    check_keys(node, path, ("event", "within_days"), ("where", "count", "sum", "value"))
    event = parse_value(_event_name, node["event"], key_path(path, "event"))
    within_days = parse_days(node["within_days"], key_path(path, "within_days"))
    where = parse_where(node["where"], key_path(path, "where")) if "where" in node else ()
    if "count" in node:
        if "sum" in node or "value" in node:
            raise RuleError(path, ERROR_COUNT_AND_SUM)
        measure = "count"
        op, value, operand = _comparison(
            node["count"], key_path(path, "count"), _count, '{"gte": 2}'
        )
    elif "sum" in node:
        if not isinstance(node["sum"], str) or node["sum"] != "amount":
            raise RuleError(key_path(path, "sum"), ERROR_SUM_FIELD)
        if "value" not in node:
            raise RuleError(path, ERROR_MISSING_KEY.format(key="value"))
        measure = "sum"
        op, value, operand = _comparison(
            node["value"], key_path(path, "value"), _decimal, '{"gt": 500}'
        )
    else:
        raise RuleError(path, ERROR_COUNT_OR_SUM)
    return EventCondition(
        event=event,
        within_days=within_days,
        measure=measure,
        op=op,
        value=value,
        operand=operand,
        where=where,
    )


def parse_tag(node: Mapping, path: str, ctx: ParseContext, depth: int) -> TagCondition:
    """Parse ``{"tag": slug, "op": "has" | "has_not"}``."""
    check_keys(node, path, ("tag", "op"))
    tag = parse_slug(node["tag"], key_path(path, "tag"))
    return TagCondition(tag=tag, op=parse_choice(node["op"], TAG_OPS, key_path(path, "op")))


def parse_segment(node: Mapping, path: str, ctx: ParseContext, depth: int) -> SegmentCondition:
    """Parse ``{"segment": slug}``, following the reference when a resolver is given."""
    check_keys(node, path, ("segment",))
    slug_path = key_path(path, "segment")
    slug = parse_slug(node["segment"], slug_path)
    _follow(slug, slug_path, ctx)
    return SegmentCondition(segment=slug)


def _follow(slug: str, path: str, ctx: ParseContext) -> None:
    """Refuse an unknown segment or a circle of references through segment ``slug``."""
    if ctx.resolve is None or slug in ctx.checked:
        return
    if slug in ctx.chain:
        cycle = " → ".join((*ctx.chain[ctx.chain.index(slug) :], slug))
        raise _ReferenceError(path, ERROR_SEGMENT_CYCLE.format(cycle=cycle))
    if len(ctx.chain) >= MAX_REFERENCE_DEPTH:
        raise _ReferenceError(path, ERROR_SEGMENT_TOO_DEEP.format(limit=MAX_REFERENCE_DEPTH))
    rule = ctx.resolve(slug)
    if rule is None:
        raise RuleError(path, ERROR_UNKNOWN_SEGMENT.format(slug=slug))
    if rule:  # a static list ({}) refers to nothing
        inner = ParseContext(resolve=ctx.resolve, chain=(*ctx.chain, slug), checked=ctx.checked)
        try:
            parse_node(rule, "", inner, depth=0)
        except _ReferenceError as error:
            raise _ReferenceError(path, error.message) from None
        except RuleError as error:
            raise RuleError(path, ERROR_SEGMENT_INVALID.format(slug=slug, error=error)) from None
    ctx.checked.add(slug)


def parse_consent(node: Mapping, path: str, ctx: ParseContext, depth: int) -> ConsentCondition:
    """Parse ``{"consent": channel, "op": "granted"}``."""
    check_keys(node, path, ("consent", "op"))
    channel = parse_choice(
        node["consent"], CONSENT_CHANNELS, key_path(path, "consent"), ERROR_UNKNOWN_CHANNEL
    )
    return ConsentCondition(
        consent=channel, op=parse_choice(node["op"], CONSENT_OPS, key_path(path, "op"))
    )
