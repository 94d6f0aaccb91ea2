"""Expressions and tables that compare the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    Sum,
    Value,
    lookups,
)
from django.db.models.functions import Coalesce, Round

if TYPE_CHECKING:
    from segments.compiler.shared import SharedMeasures


class BinaryText(Func):
    """Text compared by code point: the binary collation on PostgreSQL (SQLite's default)."""

    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template='(%(expressions)s) COLLATE "C"')


class _Trait(Func):
    """Base for expressions reading the trait ``key`` of a profile, with vendor SQL templates.

    Each template reads ``{col}`` (the traits column) then ``{key}``, twice in that order.
    ``column`` names another JSON column to read the key of (an event's ``properties``).
    """

    sqlite: str
    postgresql: str

    def __init__(self, key: str, column: str = "traits", **extra):
        self.key = key
        super().__init__(F(column), **extra)

    def _render(self, template, compiler, key_sql, key_params):
        col, col_params = compiler.compile(self.get_source_expressions()[0])
        sql = template.format(col=col, key=key_sql)
        return sql, (*col_params, *key_params) * 2

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError(f"Segment rules do not support {connection.vendor}.")

    def as_sqlite(self, compiler, connection, **extra_context):
        # The key holds no double quote (rules.attribute_type), so quoting it makes the path.
        # SQLite matches a path against the key as written in the JSON text: the ORM writes
        # non-ASCII keys escaped (\uXXXX), the bulk import writes them as they are; try both.
        raw, escaped = f'$."{self.key}"', f"$.{json.dumps(self.key)}"
        if raw == escaped:
            return self._render(self.sqlite, compiler, "%s", (raw,))
        col, col_params = compiler.compile(self.get_source_expressions()[0])
        choose = f"CASE WHEN JSON_TYPE({col}, %s) IS NULL THEN %s ELSE %s END"
        return self._render(self.sqlite, compiler, choose, (*col_params, raw, escaped, raw))

    def as_postgresql(self, compiler, connection, **extra_context):
        return self._render(self.postgresql, compiler, "%s", (self.key,))


class TraitText(_Trait):
    """The trait as text, or NULL when it is missing or not a JSON string."""

    output_field = CharField()
    sqlite = "CASE WHEN JSON_TYPE({col}, {key}) = 'text' THEN JSON_EXTRACT({col}, {key}) END"
    postgresql = "CASE WHEN JSONB_TYPEOF({col} -> {key}) = 'string' THEN ({col} ->> {key}) END"


class TraitNumber(_Trait):
    """The trait as a number, or NULL when it is missing or not a JSON number."""

    output_field = FloatField()
    sqlite = (
        "CASE WHEN JSON_TYPE({col}, {key}) IN ('integer', 'real') "
        "THEN JSON_EXTRACT({col}, {key}) END"
    )
    postgresql = (
        "CASE WHEN JSONB_TYPEOF({col} -> {key}) = 'number' "
        "THEN ({col} ->> {key})::double precision END"
    )


class TraitBoolean(_Trait):
    """The trait as a boolean, or NULL when it is missing or not JSON true or false."""

    output_field = BooleanField()
    sqlite = (
        "CASE WHEN JSON_TYPE({col}, {key}) IN ('true', 'false') THEN JSON_EXTRACT({col}, {key}) END"
    )
    postgresql = (
        "CASE WHEN JSONB_TYPEOF({col} -> {key}) = 'boolean' THEN ({col} ->> {key})::boolean END"
    )


class TraitIsSet(_Trait):
    """Whether the trait is present, not null and not "" (never NULL)."""

    output_field = BooleanField()
    sqlite = (
        "COALESCE(JSON_TYPE({col}, {key}) NOT IN ('null', 'text') "
        "OR JSON_EXTRACT({col}, {key}) <> '', 0)"
    )
    postgresql = (
        "COALESCE(JSONB_TYPEOF({col} -> {key}) NOT IN ('null', 'string') "
        "OR ({col} ->> {key}) <> '', FALSE)"
    )


class Contains(lookups.Contains):
    """Case-sensitive substring on both databases (SQLite's LIKE ignores ASCII case)."""

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"INSTR({lhs}, %s) > 0", (*lhs_params, self.rhs)


class StartsWith(lookups.StartsWith):
    """Case-sensitive prefix on both databases (LIKE 'x%' on PostgreSQL can use an index)."""

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"SUBSTR({lhs}, 1, LENGTH(%s)) = %s", (*lhs_params, self.rhs, self.rhs)


# Tables -----------------------------------------------------------------------------------------

# Each comparison operator as a lookup.
LOOKUPS: dict[str, type[lookups.Lookup]] = {
    "eq": lookups.Exact,
    "lt": lookups.LessThan,
    "lte": lookups.LessThanOrEqual,
    "gt": lookups.GreaterThan,
    "gte": lookups.GreaterThanOrEqual,
    "between": lookups.Range,
    "in": lookups.In,
    "contains": Contains,
    "startswith": StartsWith,
}
# Operators compiled as the exact complement of another one.
COMPLEMENTS = {"ne": "eq", "not_in": "in", "is_not_set": "is_set"}
# The same comparisons in Python, to know whether a count or sum of 0 satisfies one.
HOLDS: dict[str, Callable] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "between": lambda value, pair: pair[0] <= value <= pair[1],
}
# Count comparisons that only ask whether there is any event: (op, value) -> "there is one".
COUNT_EXISTS = {
    ("gte", 1): True,
    ("gt", 0): True,
    ("ne", 0): True,
    ("eq", 0): False,
    ("lt", 1): False,
    ("lte", 0): False,
}
# A whole local day compared with a date and time: (lookup, days after the day's start) pairs.
DAY_BOUNDS = {
    "eq": (("gte", 0), ("lt", 1)),
    "lt": (("lt", 0),),
    "lte": (("lt", 1),),
    "gt": (("gte", 1),),
    "gte": (("gte", 0),),
}
TRAIT_EXPRESSIONS = {str: TraitText, float: TraitNumber, int: TraitNumber, bool: TraitBoolean}


# The two plans of a rule's event counts and sums (``segments.compiler.planning`` chooses).
GROUPED = "grouped"  # one grouped scan of the event window, joined with IN
CORRELATED = "correlated"  # per candidate profile, through the (profile, name, occurred_at) index
PLANS = (GROUPED, CORRELATED)


@dataclass(frozen=True)
class Env:
    """What every compiler is given: the moment, the time zone, the shared tables if any, and
    the plan of event counts and sums (``GROUPED`` or ``CORRELATED``)."""

    now: datetime.datetime
    tz: datetime.tzinfo
    shared: SharedMeasures | None = None
    plan: str = GROUPED
    # (event, within_days) whose profiles a GROUPED plan may hash: "any" of those is
    # ``pk IN (SELECT profile_id …)``, a hashed set even inside an "any" (else EXISTS); "none"
    # stays NOT EXISTS, an anti-join that may run in parallel.
    hashed: frozenset = frozenset()
    # Compiled for the planner's estimate only (``segments.compiler.planning``): a condition
    # may then take an equivalent form the database has statistics for.
    estimating: bool = False


def event_measure(measure: str, window: Q | None = None):
    """Return the count of events, or the sum of their amounts rounded to cents."""
    if measure == "count":  # of a column the grouped rows carry anyway (never NULL), not the id
        return Count("occurred_at", filter=window)
    money = DecimalField(max_digits=20, decimal_places=2)
    return Round(Coalesce(Sum("amount", filter=window), Value(Decimal(0)), output_field=money), 2)


def all_of(conditions) -> Q:
    """Return the AND of lookups and conditions."""
    return reduce(operator.and_, (Q(condition) for condition in conditions))


def true_or_false(condition: Q) -> Q:
    """Return ``condition`` as one boolean that is never NULL (NULL counts as false).

    The same rows as ``condition AND <its operand> IS NOT NULL``, as one expression: PostgreSQL
    has no statistics on an expression over a JSON trait and estimates a boolean it cannot read
    at one half, where it multiplies two default selectivities of a comparison and a NULL test
    into a few rows, and then plans the rest of the rule (joins, probes) for those few rows.
    """
    truth = ExpressionWrapper(condition, output_field=BooleanField())
    return Q(Coalesce(truth, Value(False), output_field=BooleanField()))


def json_equals(column: str, matches) -> Q:
    """Return "the JSON object in ``column`` has each key of ``matches`` (``PropertyEquals``)
    equal to its value, of the same JSON type" (1 equals 1.0; "1" and true are not 1).

    PostgreSQL: one containment, ``column @> '{…}'`` (for scalar values it is exactly that
    equality, and the planner estimates it from the column's statistics); elsewhere one typed
    comparison per key, as trait conditions compare, which is NULL for a missing key or another
    type: use it to keep rows (of a query or of an aggregate's filter), never negated.
    """
    if connection.features.supports_json_field_contains:
        return Q(**{f"{column}__contains": {match.key: match.value for match in matches}})
    return all_of(
        lookups.Exact(TRAIT_EXPRESSIONS[type(match.value)](match.key, column=column), match.value)
        for match in matches
    )


def event_properties_q(where) -> Q:
    """Return the condition on events that an event condition's ``where`` keeps (all: ``Q()``)."""
    return json_equals("properties", where) if where else Q()


def one_of(lhs, values: list):
    """Return ``lhs`` equal to the one value, or in the values."""
    return lookups.Exact(lhs, values[0]) if len(values) == 1 else lookups.In(lhs, values)


def compare(lhs, op: str, operand) -> Q:
    """Return ``lhs`` compared with ``operand`` by operator ``op`` (complements negated)."""
    if op in COMPLEMENTS:
        return ~compare(lhs, COMPLEMENTS[op], operand)
    return Q(LOOKUPS[op](lhs, operand))
