"""Values in rules: the checks of one value, the value types of attributes, the operators."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime

from core import fields
from profiles.models import ConsentChannel, Gender, Profile, ValueTier
from segments import conditions
from segments.rules.errors import (
    ERROR_BOOLEAN_OP,
    ERROR_EXPECTED_CHOICE,
    ERROR_EXPECTED_DATE,
    ERROR_EXPECTED_DATE_OR_TIME,
    ERROR_EXPECTED_NUMBER,
    ERROR_EXPECTED_SCALAR,
    ERROR_EXPECTED_TEXT,
    ERROR_EXPECTED_WHOLE,
    ERROR_OFFSET,
    ERROR_TEXT_EMPTY,
    ERROR_TEXT_INVALID,
    ERROR_TEXT_OP,
    ERROR_TEXT_TOO_LONG,
    MAX_NAME,
    MAX_NUMBER,
    MAX_TEXT,
    MAX_WHOLE,
    MAX_YEAR,
    MIN_YEAR,
    TRAITS_PREFIX,
)


class _Bad(Exception):
    """A value refused with ``message`` (the caller adds the path)."""

    def __init__(self, message: Any):
        self.message = message


MAX_OFFSET = datetime.timedelta(hours=15, minutes=59)  # the largest offset PostgreSQL reads


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
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:  # what PostgreSQL stores
        raise _Bad(ERROR_OFFSET)
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

# Profile core fields and computed features that rules can use, by name, from the catalogue of
# profile fields (``core.fields``; ``segments.builtins`` registers them; other apps add theirs
# with ``segments.conditions.attribute_register``).
_FAMILIES = {
    fields.RULE_TEXT: TEXT,
    fields.RULE_WHOLE: WHOLE,
    fields.RULE_DECIMAL: DECIMAL,
    fields.RULE_DATE: DATE,
    fields.RULE_DATETIME: DATETIME,
}


def _choice_type(name: str) -> ValueType:
    values = tuple(value for value, _label in Profile._meta.get_field(name).choices)
    return ValueType("choice", (*EQUALITY_OPS, *SET_OPS), _check_choice(values))


PROFILE_ATTRIBUTES: dict[str, ValueType] = {
    name: _choice_type(name) if family == fields.RULE_CHOICE else _FAMILIES[family]
    for name, family in fields.RULE_FIELDS.items()
}

# The trait names that imports accept (profiles.ingest.clean); everything after "traits." is
# the key, dots included.
_TRAIT_KEY_RE = re.compile(r"\w[\w .:-]*\Z")


def json_key_valid(key: Any) -> bool:
    """Return whether ``key`` can name a trait or an event property in a rule."""
    return isinstance(key, str) and len(key) <= MAX_NAME and bool(_TRAIT_KEY_RE.match(key))


def _scalar(raw: Any) -> str | int | float | bool:
    """Check a value a JSON value is compared with for equality: text, a number, true or false."""
    if isinstance(raw, bool):
        return raw
    if _is_number(raw):
        return _number(raw)
    if isinstance(raw, str):
        return _text(raw)
    raise _Bad(ERROR_EXPECTED_SCALAR)


# Computed features: attributes derived from behaviour, like events and tags.
BEHAVIOUR_ATTRIBUTES = fields.BEHAVIOUR_FIELDS


def attribute_types() -> dict[str, ValueType]:
    """Return the value type of each registered attribute, by name."""
    return {name: found.value_type for name, found in conditions.attributes().items()}


def attribute_type(attr: str) -> ValueType | None:
    """Return the value type of attribute ``attr``, or None when rules cannot use it."""
    found = conditions.attributes().get(attr)
    if found is not None:
        return found.value_type
    if attr.startswith(TRAITS_PREFIX) and json_key_valid(attr.removeprefix(TRAITS_PREFIX)):
        return TRAIT
    return None


AGGREGATE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")
TAG_OPS = ("has", "has_not")
CONSENT_CHANNELS = tuple(ConsentChannel.values)  # email, sms, wechat, wecom, push
CONSENT_OPS = ("granted",)
