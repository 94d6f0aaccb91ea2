"""Parse and validate segment rule JSON into a small, typed, immutable tree.

The format is the contract in PRODUCT.md ("Segment rule format"). Parsing is pure: it never
mutates its input and never touches the database (segment references are followed through a
``resolve`` callable that the caller supplies). Every refusal is a :class:`RuleError` whose
message starts with the path of the offending node, e.g. ``all[2].count: …``.

Adding a condition kind is local: a frozen dataclass with ``to_json()``, a parser registered in
``CONDITION_KINDS`` here, and a compiler registered in ``segments.compiler.COMPILERS``. Adding an
attribute operator is one entry in ``OPERATORS``, the value types that accept it, and one entry in
the compiler's lookup table.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.validators import slug_unicode_re
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from profiles.models import Gender, ValueTier

# Limits that keep a rule small enough to read and to run.
MAX_DEPTH = 10  # nested groups
MAX_CONDITIONS = 200  # nodes in one rule
MAX_REFERENCE_DEPTH = 10  # segment → segment → … chains
MAX_LIST = 500  # values in an in / not_in list
MAX_TEXT = 200  # characters in a text value
MAX_NAME = 64  # characters in an event name, a tag, segment or stage slug, a trait key
MAX_DAYS = 36_500  # a hundred years
MAX_WHOLE = 2**31 - 1  # whole numbers compared with integer columns and counts
MAX_NUMBER = 10**12  # other numbers: amounts, monetary, numeric traits
MIN_YEAR, MAX_YEAR = 1000, 9000  # dates far enough from the calendar's ends to shift safely

TRAITS_PREFIX = "traits."

ERROR_EXPECTED_CONDITION = _("Expected a condition (a JSON object).")
ERROR_NO_KIND = _("Unknown condition: use one of the keys {kinds}.")
ERROR_MANY_KINDS = _("A condition has exactly one of the keys {kinds}; this one has {found}.")
ERROR_UNKNOWN_KEY = _("Unknown key “{key}”; allowed here: {allowed}.")
ERROR_MISSING_KEY = _("Missing “{key}”.")
ERROR_GROUP_NOT_LIST = _("A group takes a list of conditions.")
ERROR_GROUP_EMPTY = _("A group needs at least one condition.")
ERROR_TOO_DEEP = _("Groups are nested more than {limit} levels deep.")
ERROR_TOO_MANY = _("The rule has more than {limit} conditions.")
ERROR_UNKNOWN_ATTRIBUTE = _(
    "Unknown attribute “{attr}”: use a profile field ({fields}) or traits.<key>."
)
ERROR_TRAIT_KEY = _(
    "A trait key is a letter or digit followed by up to {limit} more letters, digits, spaces, "
    "“.”, “:”, “_” or “-”, e.g. traits.membership."
)
ERROR_UNKNOWN_OP = _("Unknown operator “{op}”; use one of {ops}.")
ERROR_OP_NOT_FOR_ATTRIBUTE = _("“{op}” does not apply to {attr}; use one of {ops}.")
ERROR_NO_VALUE_EXPECTED = _("“{op}” takes no value; remove “value”.")
ERROR_EXPECTED_TEXT = _("Expected text.")
ERROR_TEXT_TOO_LONG = _("Keep text to {limit} characters or fewer.")
ERROR_TEXT_INVALID = _("Text must not contain the NUL character or unpaired surrogates.")
ERROR_TEXT_EMPTY = _("Give at least one character.")
ERROR_EXPECTED_CHOICE = _("Expected one of {choices}.")
ERROR_EXPECTED_WHOLE = _("Expected a whole number from {low} to {high}.")
ERROR_EXPECTED_NUMBER = _("Expected a number from {low} to {high}.")
ERROR_EXPECTED_DATE = _("Expected a date like 2024-01-31 (years {low} to {high}).")
ERROR_EXPECTED_DATE_OR_TIME = _(
    "Expected a date like 2024-01-31 or a date and time like 2024-01-31T09:30:00+08:00 "
    "(years {low} to {high})."
)
ERROR_EXPECTED_SCALAR = _("Expected text, a number, true or false.")
ERROR_BOOLEAN_OP = _("true and false can only be compared with eq, ne, in and not_in.")
ERROR_TEXT_OP = _("“{op}” looks inside text; give text.")
ERROR_EXPECTED_DAYS = _("Expected a whole number of days from 1 to {limit}.")
ERROR_EXPECTED_PAIR = _("Expected a list of two values: [low, high].")
ERROR_PAIR_KINDS = _("Give both values in the same form (both text, numbers, dates …).")
ERROR_PAIR_ORDER = _("The low value is greater than the high value.")
ERROR_EXPECTED_LIST = _("Expected a non-empty list of at most {limit} values.")
ERROR_EXPECTED_COMPARISON = _("Expected one comparison such as {example}, with one of {ops}.")
ERROR_COUNT_AND_SUM = _("Give either “count”, or “sum” with “value”, not both.")
ERROR_COUNT_OR_SUM = _("Give “count”, or “sum” with “value”.")
ERROR_SUM_FIELD = _("Only “amount” can be summed.")
ERROR_EXPECTED_SLUG = _(
    "Expected a slug of 1 to {limit} letters, digits, “-” or “_”, e.g. coupon-lover."
)
ERROR_UNKNOWN_CHANNEL = _("Unknown channel “{op}”; use one of {ops}.")
ERROR_UNKNOWN_SEGMENT = _("There is no segment “{slug}”.")
ERROR_SEGMENT_CYCLE = _("Segments refer to each other in a circle: {cycle}.")
ERROR_SEGMENT_TOO_DEEP = _("Segments refer to segments more than {limit} levels deep.")
ERROR_SEGMENT_INVALID = _("Segment “{slug}” has an invalid rule: {error}")


class RuleError(ValueError):
    """A rule that cannot be accepted, with the path of the node at fault."""

    def __init__(self, path: str, message: Any):
        self.path = path or "rule"
        self.message = str(message)
        super().__init__(f"{self.path}: {self.message}")


class _ReferenceError(RuleError):
    """A circle or too long a chain of segment references (reported as is by every referrer)."""


def key_path(path: str, key: str) -> str:
    """Return the path of ``key`` inside the node at ``path``."""
    return f"{path}.{key}" if path else key


def index_path(path: str, index: int) -> str:
    """Return the path of item ``index`` of the list at ``path``."""
    return f"{path}[{index}]"


# The tree ---------------------------------------------------------------------------------------

JSONValue = str | int | float | bool | tuple


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True)
class AllOf:
    """True when every condition is true."""

    children: tuple[Node, ...]

    def to_json(self) -> dict:
        return {"all": [child.to_json() for child in self.children]}


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is true."""

    children: tuple[Node, ...]

    def to_json(self) -> dict:
        return {"any": [child.to_json() for child in self.children]}


@dataclass(frozen=True)
class Not:
    """True when the condition is false."""

    condition: Node

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.condition,)

    def to_json(self) -> dict:
        return {"not": self.condition.to_json()}


@dataclass(frozen=True)
class AttributeCondition:
    """A profile field, computed feature or trait compared with a value.

    ``value`` is the JSON value as given (lists frozen to tuples); ``operand`` is its typed
    form (``Decimal``, ``date``, ``datetime`` …) for the compiler.
    """

    attr: str
    op: str
    value: JSONValue | None = None
    operand: Any = field(default=None, compare=False, repr=False)

    @property
    def is_trait(self) -> bool:
        return self.attr.startswith(TRAITS_PREFIX)

    @property
    def trait_key(self) -> str:
        return self.attr.removeprefix(TRAITS_PREFIX)

    def to_json(self) -> dict:
        data = {"attr": self.attr, "op": self.op}
        if OPERATORS[self.op] != "none":
            data["value"] = _thaw(self.value)
        return data


@dataclass(frozen=True)
class TagCondition:
    """The profile carries (or does not carry) a live tag."""

    tag: str
    op: str

    def to_json(self) -> dict:
        return {"tag": self.tag, "op": self.op}


@dataclass(frozen=True)
class EventCondition:
    """The count, or the sum of amounts, of a profile's events in the last ``within_days``."""

    event: str
    within_days: int
    measure: str  # "count" or "sum"
    op: str
    value: JSONValue
    operand: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict:
        data = {"event": self.event, "within_days": self.within_days}
        comparison = {self.op: _thaw(self.value)}
        if self.measure == "count":
            data["count"] = comparison
        else:
            data.update({"sum": "amount", "value": comparison})
        return data


@dataclass(frozen=True)
class SegmentCondition:
    """The profile is a member of another segment."""

    segment: str

    def to_json(self) -> dict:
        return {"segment": self.segment}


@dataclass(frozen=True)
class ConsentCondition:
    """The profile has granted consent on a channel."""

    consent: str
    op: str

    def to_json(self) -> dict:
        return {"consent": self.consent, "op": self.op}


@dataclass(frozen=True)
class StageCondition:
    """The profile has reached a journey stage."""

    stage: str
    op: str

    def to_json(self) -> dict:
        return {"stage": self.stage, "op": self.op}


Node = (
    AllOf
    | AnyOf
    | Not
    | AttributeCondition
    | TagCondition
    | EventCondition
    | SegmentCondition
    | ConsentCondition
    | StageCondition
)


def rule_to_json(tree: Node) -> dict:
    """Return the JSON form of a parsed rule (``parse_rule`` of it gives the same tree)."""
    return tree.to_json()


def walk(tree: Node) -> Iterator[Node]:
    """Yield every node of the tree, parents before their children."""
    yield tree
    for child in getattr(tree, "children", ()):
        yield from walk(child)


def referenced_segments(tree: Node) -> set[str]:
    """Return the slugs of the segments the rule refers to directly."""
    return {node.segment for node in walk(tree) if isinstance(node, SegmentCondition)}


# Values -----------------------------------------------------------------------------------------


class _Bad(Exception):
    """A value refused with ``message`` (the caller adds the path)."""

    def __init__(self, message: Any):
        self.message = message


def _text(raw: Any, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(raw, str):
        raise _Bad(ERROR_EXPECTED_TEXT)
    if len(raw) > limit:
        raise _Bad(ERROR_TEXT_TOO_LONG.format(limit=limit))
    if "\x00" in raw:
        raise _Bad(ERROR_TEXT_INVALID)
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(ERROR_TEXT_INVALID) from None
    return raw


def _is_number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _whole(raw: Any, *, low: int, high: int, message=ERROR_EXPECTED_WHOLE) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not low <= raw <= high:
        raise _Bad(message.format(low=low, high=high, limit=high))
    return raw


def _number(raw: Any, *, limit: int = MAX_NUMBER) -> int | float:
    if not _is_number(raw) or not math.isfinite(raw) or not -limit <= raw <= limit:
        raise _Bad(ERROR_EXPECTED_NUMBER.format(low=-limit, high=limit))
    return raw


def _decimal(raw: Any) -> Decimal:
    number = _number(raw)
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _in_years(value: datetime.date) -> bool:
    return MIN_YEAR <= value.year <= MAX_YEAR


def _date(raw: Any) -> datetime.date:
    bad = _Bad(ERROR_EXPECTED_DATE.format(low=MIN_YEAR, high=MAX_YEAR))
    if not isinstance(raw, str) or not _DATE_RE.match(raw):
        raise bad
    try:
        value = datetime.date.fromisoformat(raw)
    except ValueError:
        raise bad from None
    if not _in_years(value):
        raise bad
    return value


def _date_or_datetime(raw: Any) -> datetime.date | datetime.datetime:
    """Return a date (a whole local day) or a datetime (naive means the configured zone)."""
    bad = _Bad(ERROR_EXPECTED_DATE_OR_TIME.format(low=MIN_YEAR, high=MAX_YEAR))
    if isinstance(raw, str) and _DATE_RE.match(raw):
        try:
            return _date(raw)
        except _Bad:
            raise bad from None
    if not isinstance(raw, str) or len(raw) > 40 or not _DATETIME_RE.match(raw):
        raise bad
    try:
        value = parse_datetime(raw)
    except ValueError:
        raise bad from None
    if value is None or not _in_years(value):
        raise bad
    return value


# Attribute value types: which operators each accepts and how a single value is checked.


def _check_text(op: str, raw: Any) -> str:
    value = _text(raw)
    if op in TEXT_SEARCH_OPS and not value:
        raise _Bad(ERROR_TEXT_EMPTY)
    return value


def _check_choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(op: str, raw: Any) -> str:
        if not isinstance(raw, str) or raw not in choices:
            raise _Bad(ERROR_EXPECTED_CHOICE.format(choices=", ".join(choices)))
        return raw

    return check


def _check_whole(op: str, raw: Any) -> int:
    return _whole(raw, low=-MAX_WHOLE, high=MAX_WHOLE)


def _check_decimal(op: str, raw: Any) -> Decimal:
    return _decimal(raw)


def _check_date(op: str, raw: Any) -> datetime.date:
    return _date(raw)


def _check_datetime(op: str, raw: Any) -> datetime.date | datetime.datetime:
    return _date_or_datetime(raw)


def _check_trait(op: str, raw: Any) -> str | int | float | bool:
    """Check a trait operand: text, a number, or (for eq, ne, in, not_in) true or false."""
    if isinstance(raw, bool):
        if op not in EQUALITY_OPS:
            raise _Bad(ERROR_BOOLEAN_OP)
        return raw
    if _is_number(raw):
        if op in TEXT_SEARCH_OPS:
            raise _Bad(ERROR_TEXT_OP.format(op=op))
        return _number(raw)
    if isinstance(raw, str):
        return _check_text(op, raw)
    raise _Bad(ERROR_EXPECTED_SCALAR)


def _kind(value: Any) -> str:
    """Return the kind of an operand, for checking that the two ends of a range agree."""
    if isinstance(value, datetime.datetime):
        return "aware" if value.tzinfo else "naive"
    if _is_number(value) or isinstance(value, Decimal):
        return "number"
    return type(value).__name__


@dataclass(frozen=True)
class ValueType:
    """What an attribute holds: its operators and how one value of it is checked."""

    name: str
    ops: tuple[str, ...]
    check: Callable[[str, Any], Any]


# Operators and the shape of the value each takes: one value, a [low, high] pair, a non-empty
# list, a number of days, or none.
OPERATORS: dict[str, str] = {
    "eq": "one",
    "ne": "one",
    "lt": "one",
    "lte": "one",
    "gt": "one",
    "gte": "one",
    "between": "pair",
    "in": "list",
    "not_in": "list",
    "contains": "one",
    "startswith": "one",
    "is_set": "none",
    "is_not_set": "none",
    "within_last_days": "days",
    "more_than_days_ago": "days",
}
EQUALITY_OPS = ("eq", "ne", "in", "not_in")
ORDER_OPS = ("lt", "lte", "gt", "gte", "between")
TEXT_SEARCH_OPS = ("contains", "startswith")
SET_OPS = ("is_set", "is_not_set")
RELATIVE_OPS = ("within_last_days", "more_than_days_ago")

TEXT = ValueType("text", (*EQUALITY_OPS, *ORDER_OPS, *TEXT_SEARCH_OPS, *SET_OPS), _check_text)
WHOLE = ValueType("whole", (*EQUALITY_OPS, *ORDER_OPS, *SET_OPS), _check_whole)
DECIMAL = ValueType("decimal", (*EQUALITY_OPS, *ORDER_OPS, *SET_OPS), _check_decimal)
DATE = ValueType("date", ("eq", "ne", *ORDER_OPS, *SET_OPS, *RELATIVE_OPS), _check_date)
DATETIME = ValueType("datetime", ("eq", "ne", *ORDER_OPS, *SET_OPS, *RELATIVE_OPS), _check_datetime)
TRAIT = ValueType("trait", (*EQUALITY_OPS, *ORDER_OPS, *TEXT_SEARCH_OPS, *SET_OPS), _check_trait)
GENDER = ValueType("choice", (*EQUALITY_OPS, *SET_OPS), _check_choice(tuple(Gender.values)))
VALUE_TIER = ValueType("choice", (*EQUALITY_OPS, *SET_OPS), _check_choice(tuple(ValueTier.values)))

# Profile core fields and computed features that rules can use, by name.
ATTRIBUTES: dict[str, ValueType] = {
    "external_id": TEXT,
    "email": TEXT,
    "phone": TEXT,
    "name": TEXT,
    "gender": GENDER,
    "birth_date": DATE,
    "city": TEXT,
    "region": TEXT,
    "signup_at": DATETIME,
    "channel": TEXT,
    "recency_days": WHOLE,
    "frequency": WHOLE,
    "monetary": DECIMAL,
    "r_score": WHOLE,
    "f_score": WHOLE,
    "m_score": WHOLE,
    "value_tier": VALUE_TIER,
    "last_seen_at": DATETIME,
    "first_purchase_at": DATETIME,
    "last_purchase_at": DATETIME,
}

# The trait names that imports accept (profiles.services.ingest); everything after "traits." is
# the key, dots included.
_TRAIT_KEY_RE = re.compile(r"\w[\w .:-]*\Z")


def attribute_type(attr: str) -> ValueType | None:
    """Return the value type of attribute ``attr``, or None when rules cannot use it."""
    if attr in ATTRIBUTES:
        return ATTRIBUTES[attr]
    if attr.startswith(TRAITS_PREFIX):
        key = attr.removeprefix(TRAITS_PREFIX)
        if len(key) <= MAX_NAME and _TRAIT_KEY_RE.match(key):
            return TRAIT
    return None


AGGREGATE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")
TAG_OPS = ("has", "has_not")
CONSENT_CHANNELS = ("email", "sms")
CONSENT_OPS = ("granted",)
STAGE_OPS = ("reached",)


# Parsing ----------------------------------------------------------------------------------------

Resolver = Callable[[str], Mapping | None]


@dataclass
class _Context:
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
    return _parse(data, "", _Context(resolve=resolve, chain=chain, checked=set()), depth=0)


def _parse(node: Any, path: str, ctx: _Context, *, depth: int) -> Node:
    if not isinstance(node, Mapping):
        raise RuleError(path, ERROR_EXPECTED_CONDITION)
    ctx.conditions += 1
    if ctx.conditions > MAX_CONDITIONS:
        raise RuleError(path, ERROR_TOO_MANY.format(limit=MAX_CONDITIONS))
    found = [kind for kind in CONDITION_KINDS if kind in node]
    if not found:
        raise RuleError(path, ERROR_NO_KIND.format(kinds=", ".join(CONDITION_KINDS)))
    if len(found) > 1:
        raise RuleError(
            path,
            ERROR_MANY_KINDS.format(kinds=", ".join(CONDITION_KINDS), found=", ".join(found)),
        )
    return CONDITION_KINDS[found[0]](node, path, ctx, depth)


def _check_keys(node: Mapping, path: str, required: tuple[str, ...], optional=()) -> None:
    allowed = (*required, *optional)
    for key in node:
        if key not in allowed:
            raise RuleError(
                path, ERROR_UNKNOWN_KEY.format(key=_shown(str(key)), allowed=", ".join(allowed))
            )
    for key in required:
        if key not in node:
            raise RuleError(path, ERROR_MISSING_KEY.format(key=key))


def _shown(raw: Any, limit: int = MAX_NAME) -> str:
    """Return user input to quote in a message: printable, short, safe to encode."""
    if not isinstance(raw, str):
        return "…"
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in raw[:limit])
    return text + "…" if len(raw) > limit else text


def _value(check: Callable[[Any], Any], raw: Any, path: str) -> Any:
    try:
        return check(raw)
    except _Bad as bad:
        raise RuleError(path, bad.message) from None


def _choice(raw: Any, choices: tuple[str, ...], path: str, message=ERROR_UNKNOWN_OP) -> str:
    if not isinstance(raw, str) or raw not in choices:
        raise RuleError(path, message.format(op=_shown(raw), ops=", ".join(choices)))
    return raw


def _slug(raw: Any, path: str) -> str:
    def check(value):
        if not isinstance(value, str) or len(value) > MAX_NAME or not slug_unicode_re.match(value):
            raise _Bad(ERROR_EXPECTED_SLUG.format(limit=MAX_NAME))
        return value

    return _value(check, raw, path)


def _group(kind: str, make: Callable[[tuple], Node]):
    def parse(node: Mapping, path: str, ctx: _Context, depth: int) -> Node:
        _check_keys(node, path, (kind,))
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
                _parse(item, index_path(items_path, i), ctx, depth=depth + 1)
                for i, item in enumerate(items)
            )
        )

    return parse


def _parse_not(node: Mapping, path: str, ctx: _Context, depth: int) -> Not:
    _check_keys(node, path, ("not",))
    if depth >= MAX_DEPTH:
        raise RuleError(key_path(path, "not"), ERROR_TOO_DEEP.format(limit=MAX_DEPTH))
    return Not(_parse(node["not"], key_path(path, "not"), ctx, depth=depth + 1))


def _one(vtype: ValueType, op: str, raw: Any, path: str) -> Any:
    return _value(lambda value: vtype.check(op, value), raw, path)


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


def _days(vtype: ValueType, op: str, raw: Any, path: str) -> int:
    return _value(_check_days, raw, path)


# How the value of each operator shape is read (None: the operator takes no value).
VALUE_SHAPES: dict[str, Callable[[ValueType, str, Any, str], Any] | None] = {
    "one": _one,
    "pair": _pair,
    "list": _list,
    "days": _days,
    "none": None,
}


def _parse_attribute(node: Mapping, path: str, ctx: _Context, depth: int) -> AttributeCondition:
    _check_keys(node, path, ("attr", "op"), ("value",))
    attr = node["attr"]
    vtype = attribute_type(attr) if isinstance(attr, str) else None
    if vtype is None:
        message = (
            ERROR_TRAIT_KEY.format(limit=MAX_NAME - 1)
            if isinstance(attr, str) and attr.startswith(TRAITS_PREFIX)
            else ERROR_UNKNOWN_ATTRIBUTE.format(attr=_shown(attr), fields=", ".join(ATTRIBUTES))
        )
        raise RuleError(key_path(path, "attr"), message)
    op_path = key_path(path, "op")
    op = _choice(node["op"], tuple(OPERATORS), op_path)
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
    return AttributeCondition(attr=attr, op=op, value=_freeze(node["value"]), operand=operand)


def _comparison(raw: Any, path: str, check: Callable[[Any], Any], example: str):
    """Return (op, value, operand) of an aggregate comparison such as {"gte": 2}."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise RuleError(
            path, ERROR_EXPECTED_COMPARISON.format(example=example, ops=", ".join(AGGREGATE_OPS))
        )
    ((op, value),) = raw.items()
    op = _choice(op, AGGREGATE_OPS, path)
    value_path = key_path(path, op)
    if op == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise RuleError(value_path, ERROR_EXPECTED_PAIR)
        low, high = (_value(check, item, index_path(value_path, i)) for i, item in enumerate(value))
        if low > high:
            raise RuleError(value_path, ERROR_PAIR_ORDER)
        return op, _freeze(value), (low, high)
    return op, value, _value(check, value, value_path)


def _event_name(raw: Any) -> str:
    name = _text(raw, limit=MAX_NAME)
    if not name:
        raise _Bad(ERROR_TEXT_EMPTY)
    return name


def _count(raw: Any) -> int:
    return _whole(raw, low=0, high=MAX_WHOLE)


def _parse_event(node: Mapping, path: str, ctx: _Context, depth: int) -> EventCondition:
    _check_keys(node, path, ("event", "within_days"), ("count", "sum", "value"))
    event = _value(_event_name, node["event"], key_path(path, "event"))
    within_days = _value(_check_days, node["within_days"], key_path(path, "within_days"))
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
    )


def _parse_tag(node: Mapping, path: str, ctx: _Context, depth: int) -> TagCondition:
    _check_keys(node, path, ("tag", "op"))
    tag = _slug(node["tag"], key_path(path, "tag"))
    return TagCondition(tag=tag, op=_choice(node["op"], TAG_OPS, key_path(path, "op")))


def _parse_segment(node: Mapping, path: str, ctx: _Context, depth: int) -> SegmentCondition:
    _check_keys(node, path, ("segment",))
    slug_path = key_path(path, "segment")
    slug = _slug(node["segment"], slug_path)
    _follow(slug, slug_path, ctx)
    return SegmentCondition(segment=slug)


def _follow(slug: str, path: str, ctx: _Context) -> None:
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
        inner = _Context(resolve=ctx.resolve, chain=(*ctx.chain, slug), checked=ctx.checked)
        try:
            _parse(rule, "", inner, depth=0)
        except _ReferenceError as error:
            raise _ReferenceError(path, error.message) from None
        except RuleError as error:
            raise RuleError(path, ERROR_SEGMENT_INVALID.format(slug=slug, error=error)) from None
    ctx.checked.add(slug)


def _parse_consent(node: Mapping, path: str, ctx: _Context, depth: int) -> ConsentCondition:
    _check_keys(node, path, ("consent", "op"))
    channel = _choice(
        node["consent"], CONSENT_CHANNELS, key_path(path, "consent"), ERROR_UNKNOWN_CHANNEL
    )
    return ConsentCondition(
        consent=channel, op=_choice(node["op"], CONSENT_OPS, key_path(path, "op"))
    )


def _parse_stage(node: Mapping, path: str, ctx: _Context, depth: int) -> StageCondition:
    _check_keys(node, path, ("stage", "op"))
    stage = _slug(node["stage"], key_path(path, "stage"))
    return StageCondition(stage=stage, op=_choice(node["op"], STAGE_OPS, key_path(path, "op")))


# Condition kinds by the key that introduces them; each parser reads its own keys.
CONDITION_KINDS: dict[str, Callable[[Mapping, str, _Context, int], Node]] = {
    "all": _group("all", AllOf),
    "any": _group("any", AnyOf),
    "not": _parse_not,
    "attr": _parse_attribute,
    "tag": _parse_tag,
    "event": _parse_event,
    "segment": _parse_segment,
    "consent": _parse_consent,
    "stage": _parse_stage,
}
