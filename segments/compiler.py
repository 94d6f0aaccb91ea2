"""Compile a parsed segment rule into one set-based condition on profiles.

``Profile.objects.filter(compile_rule(tree, now=now))`` is the whole segment in one statement:
attribute conditions are column comparisons, tags and simple event conditions are ``EXISTS``
semi-joins, event counts and sums are one grouped scan of the events (``GROUP BY … HAVING``)
joined with ``IN``, segment references are ``EXISTS`` on the membership table. Compiling is
pure: it builds expressions and runs no query.

Semantics (identical on SQLite and PostgreSQL, and what the tests' Python evaluation does):

- Every condition is true or false for every profile, never SQL's "unknown", so ``not`` is always
  the exact complement and ``all``/``any`` are plain AND/OR.
- A missing value (a NULL column, an absent trait key, a JSON null, or a trait of another JSON
  type than the operand) satisfies no comparison: eq, lt, lte, gt, gte, between, in, contains,
  startswith, within_last_days and more_than_days_ago are false for it.
- ``ne``, ``not_in`` and ``is_not_set`` are the complements of ``eq``, ``in`` and ``is_set``:
  they are true for a missing value ("city ne 上海" includes profiles without a city).
- ``is_set``: the value is present, not null and not the empty string ("" is how the core text
  fields say "none"; ``gender`` "unknown" is a value). Arrays and objects in traits are set.
- Traits compare by JSON type: numbers as numbers (1 equals 1.0, "1" is not 1), text as text,
  true/false only with true/false. Text order (lt … between) is by code point on both databases
  (binary collation, forced on PostgreSQL whatever the database's collation). ``contains`` and
  ``startswith`` are case-sensitive on both.
- Time: a date given for a date-and-time field means that whole day in the configured time zone
  (``eq 2024-01-31`` is the day, ``lte`` includes it, ``gt`` starts the next day); a date and time
  without an offset is in the configured zone. ``within_last_days N`` is ``now - N days <= x <=
  now`` and ``more_than_days_ago N`` is ``x < now - N days`` (a day is 24 hours); on the date
  field birth_date they count local calendar days back from today. Event windows are ``now -
  within_days <= occurred_at <= now``, both ends included (as the RFM window): later events are
  ignored, so an evaluation "as of" a moment is reproducible.
- Events: a count or sum over no events is 0, so ``count eq 0`` ("did not") and ``sum lt 100``
  include profiles without any such event; events without an amount add nothing to a sum; sums are
  rounded to cents before comparing.
- Tags count until they expire (``expires_at`` after ``now``); a segment reference means the
  current membership of that segment.
"""

from __future__ import annotations

import datetime
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import reduce

from django.db.models import (
    BooleanField,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Sum,
    Value,
    lookups,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Round
from django.db.models.sql.datastructures import BaseTable
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from profiles.models import Event, Profile, ProfileTag
from profiles.services.consent import consent_granted_q, profiling_allowed_q
from segments import rules
from segments.models import SegmentMembership

ERROR_STAGE_NOT_AVAILABLE = _(
    "Journey stage conditions are not available yet: they arrive with the journeys."
)


# Expressions that behave the same on both databases ---------------------------------------------


class BinaryText(Func):
    """Text compared by code point: the binary collation on PostgreSQL (SQLite's default)."""

    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template='(%(expressions)s) COLLATE "C"')


class _Trait(Func):
    """Base for expressions reading the trait ``key`` of a profile, with vendor SQL templates.

    Each template reads ``{col}`` (the traits column) then ``{key}``, twice in that order.
    """

    sqlite: str
    postgresql: str

    def __init__(self, key: str, **extra):
        self.key = key
        super().__init__(F("traits"), **extra)

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
_TRAIT_EXPRESSIONS = {str: TraitText, float: TraitNumber, int: TraitNumber, bool: TraitBoolean}


@dataclass(frozen=True)
class _Env:
    now: datetime.datetime
    tz: datetime.tzinfo
    shared: SharedMeasures | None = None


# Measures shared by several rules ---------------------------------------------------------------
#
# Refreshing many segments at once, the per-profile counts and sums of each event are computed
# once, by one grouped scan per event name over the widest window any rule asks for, into a
# temporary table with one column per (measure, window); each rule then reads that table instead
# of scanning the events again. ``shared_measures`` plans the tables, the caller creates them.

MeasureKey = tuple[str, str, int]  # (event, "count" or "sum", within_days)


@dataclass(frozen=True)
class SharedMeasures:
    """Where each shared measure lives: (event, measure, days) -> (table, column).

    ``tags`` names for each tag the table of the profiles carrying it (live at ``now``).
    ``profiles`` names a narrow copy of the profile columns the rules read (``profile_columns``),
    which each rule scans instead of the wide profile table; None when there is none. The copy
    holds only the profiles that satisfy ``common``, conditions every rule requires.
    """

    columns: dict[MeasureKey, tuple[str, str]]
    tables: dict[str, tuple[str, int]]  # table -> (event, widest window in days)
    profiles: str | None = None
    profile_columns: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)  # tag slug -> table of its carriers
    common: tuple[rules.Node, ...] = ()


def _measure_key(node: rules.EventCondition) -> MeasureKey:
    return (node.event, node.measure, node.within_days)


def measure_keys(tree: rules.Node) -> set[MeasureKey]:
    """Return the event measures a rule compares through a grouped scan (not EXISTS).

    "Any" and "none" stay EXISTS probes: run after the cheaper conditions, they touch the events
    of the few remaining candidates, where a shared table would be probed for every profile.
    """
    return {
        _measure_key(node)
        for node in rules.walk(tree)
        if isinstance(node, rules.EventCondition)
        and not (node.measure == "count" and (node.op, node.value) in COUNT_EXISTS)
    }


def shared_measures(
    keys: set[MeasureKey],
    *,
    tags: set[str] = frozenset(),
    profile_columns: set[str] | None = None,
    common: tuple[rules.Node, ...] = (),
    prefix: str = "segment_shared",
) -> SharedMeasures:
    """Plan one table per event name holding every measure in ``keys``, one per tag in ``tags``.

    With ``profile_columns`` (see ``profile_columns``), also plan a narrow copy of those
    profile columns for the rules to scan, holding only the profiles that satisfy ``common``
    (see ``common_conditions``).
    """
    columns, tables = {}, {}
    for number, event in enumerate(sorted({key[0] for key in keys})):
        table = f"{prefix}_{number}"
        mine = sorted(key for key in keys if key[0] == event)
        tables[table] = (event, max(days for _e, _m, days in mine))
        for index, key in enumerate(mine):
            columns[key] = (table, f"m{index}")
    plan = SharedMeasures(
        columns=columns,
        tables=tables,
        tags={slug: f"{prefix}_tag_{number}" for number, slug in enumerate(sorted(tags))},
    )
    if profile_columns is None:
        return plan
    return replace(
        plan,
        profiles=f"{prefix}_profiles",
        profile_columns=tuple(sorted({"id", *profile_columns})),
        common=common,
    )


def tag_slugs(tree: rules.Node) -> set[str]:
    """Return the tags a rule asks about."""
    return {node.tag for node in rules.walk(tree) if isinstance(node, rules.TagCondition)}


def shared_tag_query(slug: str, *, now: datetime.datetime):
    """Return the query of the ids of the profiles carrying tag ``slug`` live at ``now``."""
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    carriers = ProfileTag.objects.filter(live, tag__slug=slug)
    return carriers.order_by().values_list("profile_id", flat=True).distinct()


# The profile columns each kind of node reads; the other kinds read only the id. A kind missing
# here (a condition added later) makes ``profile_columns`` answer None: rules scan the table.
PROFILE_COLUMNS: dict[type, Callable[[rules.Node], set[str]]] = {
    rules.AllOf: lambda node: set(),
    rules.AnyOf: lambda node: set(),
    rules.Not: lambda node: set(),
    rules.AttributeCondition: lambda node: {
        "traits" if node.is_trait else Profile._meta.get_field(node.attr).column
    },
    rules.TagCondition: lambda node: set(),
    rules.EventCondition: lambda node: set(),
    rules.SegmentCondition: lambda node: set(),
    rules.ConsentCondition: lambda node: set(),
    rules.StageCondition: lambda node: {Profile._meta.get_field("stage").column},
}


def profile_columns(trees) -> set[str] | None:
    """Return the profile columns the rules read, or None if a condition's are not known."""
    found = set()
    for tree in trees:
        for node in rules.walk(tree):
            columns = PROFILE_COLUMNS.get(type(node))
            if columns is None:
                return None
            found |= columns(node)
    return found


def common_conditions(trees) -> tuple[rules.Node, ...]:
    """Return the conditions that every rule requires, found at its top level.

    A rule requires each condition of its top-level ``all`` (or is itself one condition). Left
    out: conditions on segments (a segment refreshed earlier in the same run changes them) and
    conditions that do not compile yet.
    """
    found = None
    for tree in trees:
        required = tree.children if isinstance(tree, rules.AllOf) else (tree,)
        found = required if found is None else tuple(node for node in found if node in required)
    common = []
    for node in dict.fromkeys(found or ()):  # in order, once each
        if any(isinstance(inner, rules.SegmentCondition) for inner in rules.walk(node)):
            continue
        try:
            compile_rule(node)
        except rules.RuleError:
            continue
        common.append(node)
    return tuple(common)


def shared_profiles_query(plan: SharedMeasures, *, now: datetime.datetime):
    """Return the query that fills the plan's narrow profile copy: the columns the rules read,
    of the profiles that satisfy the conditions every rule requires (read via the plan's tables).
    """
    fields = {field.column: field.attname for field in Profile._meta.concrete_fields}
    profiles = Profile.objects.order_by()
    if plan.common:
        condition = compile_rule(rules.AllOf(plan.common), now=now, shared=plan)
        profiles = profiles.filter(condition)
    return profiles.values_list(*(fields[column] for column in plan.profile_columns))


def shared_matching(tree: rules.Node, *, now: datetime.datetime, shared: SharedMeasures):
    """Return the ids (``values("pk")``) of the profiles satisfying ``tree``, read via ``shared``.

    With a narrow profile copy in the plan, the query scans it in place of the profile table:
    it keeps the profile table's alias, so the compiled conditions read the copy's columns.
    """
    queryset = Profile.objects.filter(compile_rule(tree, now=now, shared=shared)).values("pk")
    if shared.profiles is not None:
        query = queryset.query
        alias = query.get_initial_alias()
        query.alias_map[alias] = BaseTable(shared.profiles, alias)
        query.table_map[shared.profiles] = query.table_map.pop(Profile._meta.db_table)
    return queryset


def shared_measure_columns(plan: SharedMeasures, table: str) -> list[tuple[str, str, int]]:
    """Return ``table``'s columns in order, as (column, measure, days)."""
    found = [
        (column, measure, days)
        for (_event, measure, days), (where, column) in plan.columns.items()
        if where == table
    ]
    return sorted(found, key=lambda item: int(item[0][1:]))


def shared_measures_query(plan: SharedMeasures, table: str, *, now: datetime.datetime):
    """Return the grouped query that fills ``table``: the profile id, then its columns in order."""
    event, widest = plan.tables[table]
    events = Event.objects.filter(
        name=event, occurred_at__gte=now - datetime.timedelta(days=widest), occurred_at__lte=now
    )
    measures = {
        column: _measure(measure, Q(occurred_at__gte=now - datetime.timedelta(days=days)))
        for column, measure, days in shared_measure_columns(plan, table)
    }
    return (
        events.order_by().values("profile").annotate(**measures).values_list("profile", *measures)
    )


def _shared_event(node: rules.EventCondition, env: _Env) -> Q | None:
    """Return the condition read from the shared measures table, or None if not shared."""
    if env.shared is None or _measure_key(node) not in env.shared.columns:
        return None
    table, column = env.shared.columns[_measure_key(node)]
    sql, params = _comparison_sql(column, node.op, node.operand)
    zero = 0 if node.measure == "count" else Decimal(0)
    # Table, column and operator come from the plan and SQL_OPERATORS; values are parameters.
    if HOLDS[node.op](zero, node.operand):  # profiles without events are in
        sql = f"SELECT profile_id FROM {table} WHERE NOT ({sql})"
        return ~Q(pk__in=RawSQL(sql, params))  # noqa: S611
    return Q(pk__in=RawSQL(f"SELECT profile_id FROM {table} WHERE {sql}", params))  # noqa: S611


SQL_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _comparison_sql(column: str, op: str, operand) -> tuple[str, list]:
    if op == "between":
        low, high = operand
        return f"{column} >= %s AND {column} <= %s", [low, high]
    return f"{column} {SQL_OPERATORS[op]} %s", [operand]


# Computed features: attributes derived from behaviour, like events and tags.
BEHAVIOUR_ATTRIBUTES = frozenset(
    {
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "value_tier",
        "last_seen_at",
        "first_purchase_at",
        "last_purchase_at",
    }
)


def uses_behaviour(tree: rules.Node) -> bool:
    """Return whether a rule looks at behaviour: events, tags or computed features."""
    return any(
        isinstance(node, rules.EventCondition | rules.TagCondition)
        or (isinstance(node, rules.AttributeCondition) and node.attr in BEHAVIOUR_ATTRIBUTES)
        for node in rules.walk(tree)
    )


def compile_rule(
    tree: rules.Node,
    *,
    now: datetime.datetime | None = None,
    respect_profiling: bool = True,
    shared: SharedMeasures | None = None,
) -> Q:
    """Return the condition selecting the profiles that satisfy ``tree`` at ``now``.

    A rule that looks at behaviour leaves out the profiles that withdrew personalised profiling
    (``profiles.services.consent``), unless ``respect_profiling`` is false (for explanations).
    With ``shared``, event counts and sums are read from tables already filled for that plan.
    Raise RuleError for a condition that cannot run yet (journey stage).
    """
    env = _Env(now=now or timezone.now(), tz=timezone.get_default_timezone(), shared=shared)
    condition = _compile(tree, "", env)
    if respect_profiling and uses_behaviour(tree):
        condition &= profiling_allowed_q()
    return condition


def _compile(node: rules.Node, path: str, env: _Env) -> Q:
    return COMPILERS[type(node)](node, path, env)


def _group(kind: str, combine: Callable[[Q, Q], Q]):
    def compile_group(node, path: str, env: _Env) -> Q:
        items = rules.key_path(path, kind)
        children = list(enumerate(node.children))
        parts = []
        if kind == "all":  # one grouped scan (or one read of the shared table) per event
            merged, children = _mergeable_events(children, env.shared)
            merge = _events_merged if env.shared is None else _shared_events_merged
            parts.extend(merge(nodes, env) for nodes in merged)
        parts.extend(_compile(child, rules.index_path(items, i), env) for i, child in children)
        return reduce(combine, parts)

    return compile_group


def _positive_aggregate(node) -> bool:
    """Return whether an event condition is a grouped ``IN`` that profiles without events fail."""
    if not isinstance(node, rules.EventCondition):
        return False
    if node.measure == "count" and (node.op, node.value) in COUNT_EXISTS:
        return False  # compiled as a cheaper EXISTS
    zero = 0 if node.measure == "count" else Decimal(0)
    return not HOLDS[node.op](zero, node.operand)


def _mergeable_events(
    children: list, shared: SharedMeasures | None = None
) -> tuple[list[list], list]:
    """Split an ``all`` group's children into event-aggregate runs to merge, and the rest.

    With ``shared``, only the aggregates its tables hold are merged.
    """
    by_event: dict[str, list] = {}
    for _i, child in children:
        if _positive_aggregate(child) and (shared is None or _measure_key(child) in shared.columns):
            by_event.setdefault(child.event, []).append(child)
    merged = [nodes for nodes in by_event.values() if len(nodes) > 1]
    taken = {id(node) for nodes in merged for node in nodes}
    return merged, [(i, child) for i, child in children if id(child) not in taken]


def _events_merged(nodes: list, env: _Env) -> Q:
    """Return the AND of several counts/sums of one event as a single grouped scan.

    The scan covers the widest window; each measure is filtered to its own window. Profiles
    without events fail every one of these conditions, as they do when compiled one by one.
    """
    widest = env.now - datetime.timedelta(days=max(node.within_days for node in nodes))
    events = Event.objects.filter(
        name=nodes[0].event, occurred_at__gte=widest, occurred_at__lte=env.now
    )
    measures, holds = {}, []
    for index, node in enumerate(nodes):
        window = Q(occurred_at__gte=env.now - datetime.timedelta(days=node.within_days))
        name = f"measure_{index}"
        measures[name] = _measure(node.measure, window)
        holds.append(_compare(F(name), node.op, node.operand))
    totals = events.order_by().values("profile").annotate(**measures)
    return Q(pk__in=totals.filter(reduce(operator.and_, holds)).values("profile"))


def _shared_events_merged(nodes: list, env: _Env) -> Q:
    """Return the AND of several counts/sums of one event, read in one go from its shared table.

    One subquery instead of one per condition: the database reads the table once per rule
    (or probes it once per candidate profile), not once per condition.
    """
    tests, params = [], []
    for node in nodes:
        table, column = env.shared.columns[_measure_key(node)]
        sql, values = _comparison_sql(column, node.op, node.operand)
        tests.append(f"({sql})")
        params.extend(values)
    # Table, columns and operators come from the plan and SQL_OPERATORS; values are parameters.
    sql = f"SELECT profile_id FROM {table} WHERE {' AND '.join(tests)}"
    return Q(pk__in=RawSQL(sql, params))  # noqa: S611


def _measure(measure: str, window: Q | None = None):
    """Return the count of events, or the sum of their amounts rounded to cents."""
    if measure == "count":  # of a column the grouped rows carry anyway (never NULL), not the id
        return Count("occurred_at", filter=window)
    money = DecimalField(max_digits=20, decimal_places=2)
    return Round(Coalesce(Sum("amount", filter=window), Value(Decimal(0)), output_field=money), 2)


def _not(node: rules.Not, path: str, env: _Env) -> Q:
    return ~_compile(node.condition, rules.key_path(path, "not"), env)


def _all_of(conditions) -> Q:
    return reduce(operator.and_, (Q(condition) for condition in conditions))


# Attributes -------------------------------------------------------------------------------------


def _attribute(node: rules.AttributeCondition, path: str, env: _Env) -> Q:
    if node.op in COMPLEMENTS:
        return ~_attribute(replace(node, op=COMPLEMENTS[node.op]), path, env)
    if node.is_trait:
        return _trait(node, env)
    vtype = rules.attribute_type(node.attr)
    column = F(node.attr)
    nullable = Profile._meta.get_field(node.attr).null
    if node.op == "is_set":
        conditions = [lookups.IsNull(column, False)]
        if vtype in (rules.TEXT, rules.GENDER, rules.VALUE_TIER):
            conditions.append(~Q(lookups.Exact(column, "")))
        return _all_of(conditions)
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
    return _all_of(conditions)


def _instant(value: datetime.date | datetime.datetime, env: _Env, days: int = 0):
    """Return an aware datetime: a date's local midnight (``days`` later), or a datetime."""
    if isinstance(value, datetime.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, env.tz)
    return datetime.datetime.combine(value + datetime.timedelta(days=days), datetime.time(), env.tz)


def _instant_comparisons(op: str, operand, env: _Env) -> list[tuple[str, object]]:
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


def _date_comparisons(op: str, operand, env: _Env) -> list[tuple[str, object]]:
    """Return (lookup, date) pairs comparing a date field with ``operand``."""
    today = timezone.localdate(env.now, env.tz)
    if op == "within_last_days":
        return [("gte", today - datetime.timedelta(days=operand)), ("lte", today)]
    if op == "more_than_days_ago":
        return [("lt", today - datetime.timedelta(days=operand))]
    return [(op, operand)]


def _trait(node: rules.AttributeCondition, env: _Env) -> Q:
    key = node.trait_key
    if node.op == "is_set":
        return Q(TraitIsSet(key))
    if node.op in ("eq", "in"):
        values = (node.operand,) if node.op == "eq" else node.operand
        by_expression: dict[type, list] = {}  # a value matches traits of its own JSON type
        for value in values:
            by_expression.setdefault(_TRAIT_EXPRESSIONS[type(value)], []).append(value)
        return reduce(
            operator.or_,
            (
                _all_of([_one_of(expression(key), found), lookups.IsNull(expression(key), False)])
                for expression, found in by_expression.items()
            ),
        )
    sample = node.operand[0] if node.op == "between" else node.operand
    expression = _TRAIT_EXPRESSIONS[type(sample)](key)
    ordered_text = isinstance(sample, str) and node.op in rules.ORDER_OPS
    lhs = BinaryText(expression, output_field=CharField()) if ordered_text else expression
    return _all_of([LOOKUPS[node.op](lhs, node.operand), lookups.IsNull(expression, False)])


def _one_of(lhs, values: list):
    return lookups.Exact(lhs, values[0]) if len(values) == 1 else lookups.In(lhs, values)


# Tags, events, segments -------------------------------------------------------------------------


def _tag(node: rules.TagCondition, path: str, env: _Env) -> Q:
    if env.shared is not None and node.tag in env.shared.tags:
        # The table name comes from the plan, not from the rule.
        sql = f"SELECT profile_id FROM {env.shared.tags[node.tag]}"
        carrying = Q(pk__in=RawSQL(sql, []))  # noqa: S611
        return carrying if node.op == "has" else ~carrying
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=env.now)
    carrying = Exists(ProfileTag.objects.filter(live, profile=OuterRef("pk"), tag__slug=node.tag))
    return Q(carrying) if node.op == "has" else ~Q(carrying)


def _compare(lhs, op: str, operand) -> Q:
    if op in COMPLEMENTS:
        return ~_compare(lhs, COMPLEMENTS[op], operand)
    return Q(LOOKUPS[op](lhs, operand))


def _event(node: rules.EventCondition, path: str, env: _Env) -> Q:
    shared = _shared_event(node, env)
    if shared is not None:
        return shared
    since = env.now - datetime.timedelta(days=node.within_days)
    events = Event.objects.filter(name=node.event, occurred_at__gte=since, occurred_at__lte=env.now)
    if node.measure == "count":
        any_event = COUNT_EXISTS.get((node.op, node.value))
        if any_event is not None:
            exists = Exists(events.filter(profile=OuterRef("pk")))
            return Q(exists) if any_event else ~Q(exists)
        zero = 0
    else:
        zero = Decimal(0)
    totals = events.order_by().values("profile").annotate(measure=_measure(node.measure))
    holds = _compare(F("measure"), node.op, node.operand)
    if HOLDS[node.op](zero, node.operand):  # profiles without events are in: exclude the others
        return ~Q(pk__in=totals.filter(~holds).values("profile"))
    return Q(pk__in=totals.filter(holds).values("profile"))


def _segment(node: rules.SegmentCondition, path: str, env: _Env) -> Q:
    members = SegmentMembership.objects.filter(profile=OuterRef("pk"), segment__slug=node.segment)
    return Q(Exists(members))


def _consent(node: rules.ConsentCondition, path: str, env: _Env) -> Q:
    return consent_granted_q(channel=node.consent)


def _not_available(message):
    def refuse(node, path: str, env: _Env) -> Q:
        raise rules.RuleError(path, message)

    return refuse


# How each kind of node compiles.
COMPILERS: dict[type, Callable[[rules.Node, str, _Env], Q]] = {
    rules.AllOf: _group("all", operator.and_),
    rules.AnyOf: _group("any", operator.or_),
    rules.Not: _not,
    rules.AttributeCondition: _attribute,
    rules.TagCondition: _tag,
    rules.EventCondition: _event,
    rules.SegmentCondition: _segment,
    rules.ConsentCondition: _consent,
    rules.StageCondition: _not_available(ERROR_STAGE_NOT_AVAILABLE),
}
