"""The limits of a rule, the messages that refuse one, and RuleError naming the node at fault."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

# Limits that keep a rule small enough to read and to run.
MAX_DEPTH = 10  # nested groups
MAX_CONDITIONS = 200  # nodes in one rule
MAX_REFERENCE_DEPTH = 10  # segment → segment → … chains
MAX_LIST = 500  # values in an in / not_in list
MAX_TEXT = 200  # characters in a text value
MAX_NAME = 64  # characters in an event name, a tag, segment or stage slug, a trait key
MAX_DAYS = 36_500  # a hundred years
MAX_WHERE = 10  # event properties compared by one event condition
MAX_WHOLE = 2**31 - 1  # whole numbers compared with integer columns and counts
MAX_NUMBER = 10**12  # other numbers: amounts, monetary, numeric traits
MIN_YEAR, MAX_YEAR = 1000, 9000  # dates far enough from the calendar's ends to shift safely

TRAITS_PREFIX = "traits."

ERROR_OFFSET = _("A time zone offset is at most ±15:59, e.g. 2025-03-01T09:30:00+08:00.")
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
ERROR_EXPECTED_WHERE = _(
    "Expected an object of 1 to {limit} event properties and their values, "
    'e.g. {{"category": "beauty"}}.'
)
ERROR_PROPERTY_NAME = _(
    "“{key}” is not a property name: a letter or digit followed by up to {limit} more letters, "
    "digits, spaces, “.”, “:”, “_” or “-”, e.g. category."
)
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
