"""Compile attribute conditions: profile fields, fields of related models and traits."""

from __future__ import annotations

import datetime
import operator
from dataclasses import replace
from functools import reduce

from django.db import connection
from django.db.models import CharField, F, Q, lookups
from django.utils import timezone

from profiles.models import Profile
from segments import rules
from segments.compiler.expressions import (
    COMPLEMENTS,
    DAY_BOUNDS,
    LOOKUPS,
    TRAIT_EXPRESSIONS,
    BinaryText,
    Env,
    TraitIsSet,
    all_of,
    one_of,
    true_or_false,
)
from segments.conditions import attributes

# Value types whose "" means "none" (as NULL does) for is_set.
EMPTY_TEXT_TYPES = ("text", "choice")


def compile_attribute(node: rules.AttributeCondition, path: str, env: Env) -> Q:
    """Compile a profile field, a registered field of a related model, or a trait."""
    if node.op in COMPLEMENTS:
        return ~compile_attribute(replace(node, op=COMPLEMENTS[node.op]), path, env)
    if node.is_trait:
        return _trait(node, env)
    attribute = attributes()[node.attr]
    if attribute.spellings is not None and node.op in ("eq", "in"):
        node = _every_spelling(node, attribute.spellings)
    model = attribute.model or Profile
    nullable = model._meta.get_field(attribute.field).null
    condition = _field(node, attribute.value_type, F(attribute.field), nullable, env)
    if attribute.on_profile:
        return condition
    # One row per profile at most: the profiles whose row satisfies the condition.
    rows = model.objects.filter(condition, **{f"{attribute.profile_field}__isnull": False})
    return Q(pk__in=rows.values(attribute.profile_field))


def _every_spelling(node: rules.AttributeCondition, spellings) -> rules.AttributeCondition:
    """Return the condition as "in" every spelling of its values (上海 → 上海, 上海市, Shanghai)."""
    values = (node.operand,) if node.op == "eq" else node.operand
    every = dict.fromkeys(spelling for value in values for spelling in spellings(value))
    return replace(node, op="in", operand=tuple(every))


def _field(node, vtype: rules.ValueType, column: F, nullable: bool, env: Env) -> Q:
    """Compile the comparison of one column (of the profile or a related row) with the value."""
    if node.op == "is_set":
        conditions = [lookups.IsNull(column, False)]
        if vtype.name in EMPTY_TEXT_TYPES:
            conditions.append(~Q(lookups.Exact(column, "")))
        return all_of(conditions)
    if vtype is rules.DATETIME:
        comparisons = _instant_comparisons(node.op, node.operand, env)
    elif vtype is rules.DATE:
        comparisons = _date_comparisons(node.op, node.operand, env)
    else:
        comparisons = [(node.op, node.operand)]
    text = vtype is rules.TEXT and node.op in rules.ORDER_OPS
    lhs = BinaryText(column, output_field=CharField()) if text else column
    conditions = [LOOKUPS[op](lhs, value) for op, value in comparisons]
    if nullable:  # so that "not" of the condition includes the missing values
        conditions.append(lookups.IsNull(column, False))
    return all_of(conditions)


def _instant(value: datetime.date | datetime.datetime, env: Env, days: int = 0):
    """Return an aware datetime: a date's local midnight (``days`` later), or a datetime."""
    if isinstance(value, datetime.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, env.tz)
    return datetime.datetime.combine(value + datetime.timedelta(days=days), datetime.time(), env.tz)


def _instant_comparisons(op: str, operand, env: Env) -> list[tuple[str, object]]:
    """Return (lookup, aware datetime) pairs comparing a date-and-time field with ``operand``."""
    if op == "within_last_days":
        return [("gte", env.now - datetime.timedelta(days=operand)), ("lte", env.now)]
    if op == "more_than_days_ago":
        return [("lt", env.now - datetime.timedelta(days=operand))]
    if op == "between":
        low, high = operand
        return [*_instant_comparisons("gte", low, env), *_instant_comparisons("lte", high, env)]
    if isinstance(operand, datetime.datetime):
        return [(op, _instant(operand, env))]
    return [(lookup, _instant(operand, env, days)) for lookup, days in DAY_BOUNDS[op]]


def _date_comparisons(op: str, operand, env: Env) -> list[tuple[str, object]]:
    """Return (lookup, date) pairs comparing a date field with ``operand``."""
    today = timezone.localdate(env.now, env.tz)
    if op == "within_last_days":
        return [("gte", today - datetime.timedelta(days=operand)), ("lte", today)]
    if op == "more_than_days_ago":
        return [("lt", today - datetime.timedelta(days=operand))]
    return [(op, operand)]


def _trait(node: rules.AttributeCondition, env: Env) -> Q:
    key = node.trait_key
    if node.op == "is_set":
        return Q(TraitIsSet(key))
    if node.op in ("eq", "in"):
        values = (node.operand,) if node.op == "eq" else node.operand
        if env.estimating and connection.features.supports_json_field_contains:
            return _trait_contains(key, values)
        by_expression: dict[type, list] = {}  # a value matches traits of its own JSON type
        for value in values:
            by_expression.setdefault(TRAIT_EXPRESSIONS[type(value)], []).append(value)
        return true_or_false(
            reduce(
                operator.or_,
                (Q(one_of(expression(key), found)) for expression, found in by_expression.items()),
            )
        )
    sample = node.operand[0] if node.op == "between" else node.operand
    expression = TRAIT_EXPRESSIONS[type(sample)](key)
    ordered_text = isinstance(sample, str) and node.op in rules.ORDER_OPS
    lhs = BinaryText(expression, output_field=CharField()) if ordered_text else expression
    return true_or_false(Q(LOOKUPS[node.op](lhs, node.operand)))


def _trait_contains(key: str, values) -> Q:
    """Return "the trait is one of ``values``" as JSON containment, for an estimate only.

    PostgreSQL has no statistics on an expression such as the typed comparison above and
    guesses half of the rows for it; for containment (``traits @> {"key": value}``) it tests
    the operator on the traits column's most common values and histogram (``pg_stats``), so the
    estimate follows the data. (Containment also matches an array holding the value, which the
    rule does not: close enough for an estimate, never used to select members.)
    """
    return reduce(operator.or_, (Q(traits__contains={key: value}) for value in values))
