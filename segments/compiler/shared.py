"""Measures shared by several rules: the temporary tables of one refresh of many segments."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.sql.datastructures import BaseTable

from profiles.models import Event, Profile, ProfileTag
from segments import rules, sql
from segments.compiler.core import compile_rule
from segments.compiler.expressions import (
    CORRELATED,
    COUNT_EXISTS,
    GROUPED,
    HOLDS,
    Env,
    event_measure,
    event_properties_q,
)
from segments.conditions import condition_kind_of

# Measures shared by several rules ---------------------------------------------------------------
#
# Refreshing many segments at once, the per-profile counts and sums of each event are computed
# once, by one scan per event name over the widest window any rule asks for, into a temporary
# table with one column per (measure, window, properties kept); each rule then reads only its
# own columns of that table instead of scanning the events again. When the union of the rules'
# candidates (the profiles their cheap conditions leave, ``segments.compiler.planning``) is
# small, it is materialised first and the scan reads only those profiles' events, through the
# ``(profile_id, name, occurred_at)`` index: no profile outside it can be a member of any of
# the rules, whatever its events. ``shared_measures`` plans the tables, the caller creates them.

# (event, "count" or "sum", within_days, the properties its events have: ``where``)
MeasureKey = tuple[str, str, int, tuple[rules.PropertyEquals, ...]]


@dataclass(frozen=True)
class SharedMeasures:
    """Where each shared measure lives: (event, measure, days, where) -> (table, column).

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
    candidates: str | None = None  # table of the union of the rules' candidates, if restricted
    candidates_condition: Q | None = None  # the condition that selects them
    profiling_checked: bool = False  # every candidate allows profiling: rules need not ask


def measure_key(node: rules.EventCondition) -> MeasureKey:
    """Return the key of the shared measure an event condition compares."""
    return (node.event, node.measure, node.within_days, node.where)


def measure_keys(tree: rules.Node) -> set[MeasureKey]:
    """Return the event measures a rule compares through a grouped scan (not EXISTS).

    "Any" and "none" stay EXISTS probes: run after the cheaper conditions, they touch the events
    of the few remaining candidates, where a shared table would be probed for every profile.
    """
    return {
        measure_key(node)
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
    candidates: Q | None = None,
    profiling_checked: bool = False,
    prefix: str = "segment_shared",
) -> SharedMeasures:
    """Plan one table per event name holding every measure in ``keys``, one per tag in ``tags``.

    With ``profile_columns`` (see ``profile_columns``), also plan a narrow copy of those
    profile columns for the rules to scan, holding only the profiles that satisfy ``common``
    (see ``common_conditions``). With ``candidates`` (a condition on profiles that every
    member of every rule satisfies), the measures and the copy hold only those profiles;
    ``profiling_checked`` says that all of them allow personalised profiling (every rule is on
    behaviour, so its candidates were chosen among those).
    """
    columns, tables = {}, {}
    for number, event in enumerate(sorted({key[0] for key in keys})):
        table = f"{prefix}_{number}"
        mine = sorted(key for key in keys if key[0] == event)
        tables[table] = (event, max(days for _e, _m, days, _w in mine))
        for index, key in enumerate(mine):
            columns[key] = (table, f"m{index}")
    plan = SharedMeasures(
        columns=columns,
        tables=tables,
        tags={slug: f"{prefix}_tag_{number}" for number, slug in enumerate(sorted(tags))},
        candidates=None if candidates is None else f"{prefix}_candidates",
        candidates_condition=candidates,
    )
    if profile_columns is None:
        return plan
    return replace(
        plan,
        profiles=f"{prefix}_profiles",
        profile_columns=tuple(sorted({"id", *profile_columns})),
        common=common if candidates is None else (),  # the candidates restrict more
        # the rules scan only the copy, which holds only candidates
        profiling_checked=profiling_checked and candidates is not None,
    )


def tag_slugs(tree: rules.Node) -> set[str]:
    """Return the tags a rule asks about."""
    return {node.tag for node in rules.walk(tree) if isinstance(node, rules.TagCondition)}


def shared_tag_query(slug: str, *, now: datetime.datetime, plan: SharedMeasures | None = None):
    """Return the query of the ids of the profiles carrying tag ``slug`` live at ``now`` (those
    among the ``plan``'s candidates, if the rules read only those: a copy holds only them)."""
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    carriers = ProfileTag.objects.filter(live, tag__slug=slug)
    if plan is not None and plan.profiles is not None:  # only candidates are read, then
        carriers = _restricted(carriers, "profile_id", plan)
    return carriers.order_by().values_list("profile_id", flat=True).distinct()


def profile_columns(trees) -> set[str] | None:
    """Return the profile columns the rules read, or None if a condition's are not known."""
    found = set()
    for tree in trees:
        for node in rules.walk(tree):
            kind = condition_kind_of(node)
            if kind is None or kind.profile_columns is None:
                return None  # a kind that does not say which: rules scan the profile table
            found |= kind.profile_columns(node)
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
    if plan.candidates is not None and not plan.common:  # filled first: the candidates' rows
        profiles = Profile.objects.order_by().filter(plan.candidates_condition)
    else:
        profiles = _restricted(Profile.objects.order_by(), "pk", plan)
    if plan.common:
        among = GROUPED if plan.candidates is None else CORRELATED
        condition = compile_rule(rules.AllOf(plan.common), now=now, shared=plan, plan=among)
        profiles = profiles.filter(condition)
    return profiles.values_list(*(fields[column] for column in plan.profile_columns))


def shared_matching(tree: rules.Node, *, now: datetime.datetime, shared: SharedMeasures):
    """Return the ids (``values("pk")``) of the profiles satisfying ``tree``, read via ``shared``.

    With a narrow profile copy in the plan, the query scans it in place of the profile table:
    it keeps the profile table's alias, so the compiled conditions read the copy's columns.
    No public API swaps a query's table; the behaviour of Django's ``Query.alias_map`` and
    ``BaseTable`` relied on here is pinned by
    ``tests/segments/test_sql.py::test_shared_matching_scans_the_narrow_profile_copy``.
    """
    condition = compile_rule(
        tree,
        now=now,
        shared=shared,
        # among a few candidates, what is not shared is probed per profile
        plan=GROUPED if shared.candidates is None else CORRELATED,
        respect_profiling=not shared.profiling_checked,
    )
    queryset = Profile.objects.filter(condition).values("pk")
    if shared.profiles is not None:
        query = queryset.query
        alias = query.get_initial_alias()
        query.alias_map[alias] = BaseTable(shared.profiles, alias)
        query.table_map[shared.profiles] = query.table_map.pop(Profile._meta.db_table)
    return queryset


def shared_measure_columns(
    plan: SharedMeasures, table: str
) -> list[tuple[str, str, int, tuple[rules.PropertyEquals, ...]]]:
    """Return ``table``'s columns in order, as (column, measure, days, where)."""
    found = [
        (column, measure, days, where)
        for (_event, measure, days, where), (held_in, column) in plan.columns.items()
        if held_in == table
    ]
    return sorted(found, key=lambda item: int(item[0][1:]))


def shared_measures_query(
    plan: SharedMeasures, table: str, *, now: datetime.datetime, per_candidate: bool = False
):
    """Return the grouped query that fills ``table``: the profile id, then its columns in order.

    With ``per_candidate``, the query reads the events of one candidate, ``sql.CANDIDATE_ID``,
    for ``sql.per_candidate`` to run once per row of the plan's candidates (a LATERAL join).
    """
    event, widest = plan.tables[table]
    events = Event.objects.filter(
        name=event, occurred_at__gte=now - datetime.timedelta(days=widest), occurred_at__lte=now
    )
    if per_candidate:
        events = events.filter(profile_id=RawSQL(sql.CANDIDATE_ID, []))  # noqa: S611
    else:
        events = _restricted(events, "profile_id", plan)
    measures = {
        column: event_measure(
            measure,
            Q(occurred_at__gte=now - datetime.timedelta(days=days)) & event_properties_q(where),
        )
        for column, measure, days, where in shared_measure_columns(plan, table)
    }
    return (
        events.order_by().values("profile").annotate(**measures).values_list("profile", *measures)
    )


def shared_candidates_query(plan: SharedMeasures):
    """Return the query of the ids of the union of the rules' candidates (the plan has one)."""
    return Profile.objects.filter(plan.candidates_condition).order_by().values_list("pk")


def _restricted(queryset, column: str, plan: SharedMeasures):
    """Return ``queryset`` limited to the plan's candidates, if it has a table of them."""
    if plan.candidates is None:
        return queryset
    ids = RawSQL(sql.shared_ids(plan.candidates), [])  # noqa: S611
    return queryset.filter(**{f"{column}__in": ids})


def shared_event(node: rules.EventCondition, env: Env) -> Q | None:
    """Return the condition read from the shared measures table, or None if not shared."""
    if env.shared is None or measure_key(node) not in env.shared.columns:
        return None
    table, column = env.shared.columns[measure_key(node)]
    test, params = sql.comparison(column, node.op, node.operand)
    zero = 0 if node.measure == "count" else Decimal(0)
    if HOLDS[node.op](zero, node.operand):  # profiles without events are in
        return ~Q(pk__in=RawSQL(sql.shared_ids(table, f"NOT ({test})"), params))  # noqa: S611
    return Q(pk__in=RawSQL(sql.shared_ids(table, test), params))  # noqa: S611
