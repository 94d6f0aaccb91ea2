"""Choose each rule's plan from the size of the candidate set its cheap conditions leave.

A rule's event counts and sums run in one of two plans (``segments.compiler.events``):
``GROUPED``, one grouped scan of each event window, or ``CORRELATED``, one probe of the
``(profile_id, name, occurred_at)`` index per candidate profile. Which is cheaper depends on how
many profiles reach the event conditions at all: the *candidates*, the profiles that the cheap
conditions leave. A condition is cheap when it reads no event: attributes (of the profile, or of
any one-row-per-profile model registered with ``attribute_register``), tags, consent, segment
membership, a journey stage, engagement with messages (an EXISTS on the sends, as a tag's on its
carriers), and any kind another app registers. ``candidates_q`` builds them:

- a cheap subtree is its own candidate set;
- ``all``: the intersection of its children's sets (event conditions restrict nothing);
- ``any``: the union of its branches' sets, or everyone when one branch has none;
- an event condition, or ``not`` of a subtree with events: everyone.

Every member of a rule is a candidate, whatever its events (the sets only drop conditions).

The costs compared, in event rows read, from the database's own estimates
(``segments.sql.rows_estimate``: the planner's ``EXPLAIN`` on PostgreSQL, which reads tag
carrier counts and ``pg_stats``; a count up to a cap on SQLite, which keeps no statistics):

- grouped: the rows of each event window (one scan per event name, its widest window);
- correlated: candidates x (PROBE_ROWS + the rows one profile has in each window), summed over
  the event names, PROBE_ROWS being the cost of descending the index once for one profile.

``SEGMENT_PLAN`` (a setting; tests and the benchmark pass ``plan=``) forces either plan.
"""

from __future__ import annotations

import datetime
import operator
from dataclasses import dataclass
from functools import reduce

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.sql import select_sql
from profiles.models import Event, Profile
from profiles.services.consent import profiling_allowed_q
from segments import rules, sql
from segments.compiler.core import compile_node, compile_rule, uses_behaviour
from segments.compiler.expressions import (
    CORRELATED,
    COUNT_EXISTS,
    GROUPED,
    PLANS,
    Env,
)
from segments.conditions import attributes

AUTO = "auto"
# One probe of the (profile_id, name, occurred_at) index for one profile costs about as much as
# reading this many event rows in a sequential scan (measured on PostgreSQL at 1M profiles:
# an index descent and the heap pages of one profile's events, against rows read in order).
PROBE_ROWS = 12
# What one profile id takes in a query's hash table (entry and overhead), in bytes.
HASH_ROW_BYTES = 64
# SQLite counts rows instead of estimating them: it stops counting here.
SQLITE_COUNT_CAP = 200_000
ERROR_PLAN = "Unknown segment plan “{plan}”: use one of auto, {plans}."


@dataclass(frozen=True)
class PlanChoice:
    """The plan chosen for a rule, and the estimates it was chosen from (None if forced)."""

    plan: str
    candidates: float | None = None
    profiles: float | None = None
    grouped_cost: float | None = None
    correlated_cost: float | None = None
    hashed: frozenset = frozenset()  # the EXISTS windows a grouped plan hashes

    def as_dict(self) -> dict:
        found = {key: value for key, value in self.__dict__.items() if value is not None}
        found["hashed"] = sorted(f"{event}/{days}" for event, days in self.hashed)
        return found


def reads_events(node: rules.Node, *, segments: bool = False) -> bool:
    """Return whether the subtree has an event condition (any other condition is cheap); with
    ``segments``, a segment reference counts as one too (a refresh may change it meanwhile)."""
    kinds = (rules.EventCondition, rules.SegmentCondition) if segments else rules.EventCondition
    return any(isinstance(inner, kinds) for inner in rules.walk(node))


# The candidates as a union of intersections of cheap conditions (nodes of the rule, or
# PROFILING_ALLOWED, the condition compile_rule adds to a rule on behaviour).
Term = tuple[object, ...]
Terms = list[Term]
PROFILING_ALLOWED = "profiling allowed"
# Past this many intersections, a union is kept as one condition (estimated as a whole).
MAX_TERMS = 8


def candidate_terms(node: rules.Node, *, segments: bool = False) -> Terms | None:
    """Return the candidates of ``node`` as a union of intersections of its cheap conditions
    (each estimated on its own: planners estimate an OR of semi-joins poorly); None when they
    restrict nothing (everyone is a candidate). ``segments``: see ``reads_events``."""
    if not reads_events(node, segments=segments):
        return [(node,)]
    if isinstance(node, rules.AnyOf):
        terms = _union(node, segments)
    elif isinstance(node, rules.AllOf):
        terms = _intersection(node, segments)
    else:
        return None  # an event condition, or "not" of a subtree with events
    if terms is None or len(terms) <= MAX_TERMS:
        return terms
    return [(rules.AnyOf(tuple(rules.AllOf(term) for term in terms)),)]  # cheap: one condition


def _union(node: rules.AnyOf, segments: bool) -> Terms | None:
    branches = [candidate_terms(child, segments=segments) for child in node.children]
    if any(branch is None for branch in branches):
        return None
    return [term for branch in branches for term in branch]


def _intersection(node: rules.AllOf, segments: bool) -> Terms | None:
    terms = [()]
    for child in node.children:
        found = candidate_terms(child, segments=segments)
        if found is not None:
            terms = [left + right for left in terms for right in found]
    return None if terms == [()] else terms


def _term_q(term: Term, env: Env) -> Q:
    parts = [
        profiling_allowed_q(correlated=env.plan == CORRELATED)
        if node == PROFILING_ALLOWED
        else compile_node(node, "", env)
        for node in term
    ]
    return reduce(operator.and_, parts, Q())


def terms_q(
    terms: Terms, *, now: datetime.datetime, plan: str = GROUPED, estimating: bool = False
) -> Q:
    """Return the condition on profiles of a union of intersections, with the conditions they
    all share taken out of the union (so that the database can join on those); ``estimating``:
    only to estimate their number (see ``Env``)."""
    env = Env(now=now, tz=timezone.get_default_timezone(), plan=plan, estimating=estimating)
    shared = _shared(terms)
    rest = [tuple(node for node in term if node not in shared) for term in terms]
    condition = _term_q(shared, env)
    if not all(rest):  # one intersection is the shared conditions alone: the union is them
        return condition
    if len(rest) == 1 or all(_on_the_row(node) for term in rest for node in term):
        return condition & reduce(operator.or_, (_term_q(term, env) for term in rest))
    # A UNION of each intersection's ids: each reaches its profiles its own way (a tag's
    # carriers, a trait's scan), where one OR would test every condition on every profile.
    selects = [select_sql(Profile.objects.filter(_term_q(term, env)).values("pk")) for term in rest]
    union = " UNION ".join(select for select, _params in selects)
    params = [param for _select, found in selects for param in found]
    return condition & Q(pk__in=RawSQL(union, params))  # noqa: S611


def _on_the_row(node) -> bool:
    """Return whether a cheap condition reads only the profile's own row (no subquery)."""
    return (
        all(
            isinstance(inner, rules.AllOf | rules.AnyOf | rules.Not)
            or (isinstance(inner, rules.AttributeCondition) and _profile_attribute(inner))
            for inner in rules.walk(node)
        )
        if node != PROFILING_ALLOWED
        else False
    )


def _profile_attribute(node: rules.AttributeCondition) -> bool:
    return node.is_trait or attributes()[node.attr].on_profile


def _shared(terms: Terms) -> Term:
    """Return the conditions every intersection of ``terms`` has."""
    return tuple(node for node in terms[0] if all(node in term for term in terms[1:]))


def candidates_q(node: rules.Node, env: Env) -> Q | None:
    """Return a condition every profile satisfying ``node`` satisfies, built from its cheap
    conditions only; None when they restrict nothing (everyone is a candidate)."""
    terms = candidate_terms(node)
    return (
        None
        if terms is None
        else terms_q(terms, now=env.now, plan=env.plan, estimating=env.estimating)
    )


def rule_candidate_terms(tree: rules.Node, *, segments: bool = False) -> Terms | None:
    """Return the candidates of a rule as ``compile_rule`` evaluates it (profiling included)."""
    terms = candidate_terms(tree, segments=segments)
    if uses_behaviour(tree):
        terms = (
            [(PROFILING_ALLOWED,)] if terms is None else [(*t, PROFILING_ALLOWED) for t in terms]
        )
    return terms


def rule_candidates(tree: rules.Node, *, now: datetime.datetime, plan: str = GROUPED) -> Q | None:
    """Return the condition selecting a rule's candidates, or None for everyone."""
    terms = rule_candidate_terms(tree)
    return None if terms is None else terms_q(terms, now=now, plan=plan)


def candidates_estimate(terms: Terms | None, profiles: float, *, now: datetime.datetime) -> float:
    """Return the estimated number of candidates: the sum of the intersections' estimates, or
    that of the conditions all of them share, whichever is smaller (the union is within both)."""
    if terms is None:
        return profiles

    def estimate(term: Term) -> float:
        condition = terms_q([term], now=now, estimating=True)
        return rows_estimate(Profile.objects.filter(condition).values("pk"))

    found = sum(estimate(term) for term in terms)
    shared = _shared(terms)
    if len(terms) > 1 and shared:
        found = min(found, estimate(shared))
    return min(found, profiles)


def _aggregates(tree: rules.Node) -> dict[str, int]:
    """Return the event names the rule counts or sums (not mere EXISTS), with the widest window."""
    widest: dict[str, int] = {}
    for node in rules.walk(tree):
        if isinstance(node, rules.EventCondition) and not (
            node.measure == "count" and (node.op, node.value) in COUNT_EXISTS
        ):
            widest[node.event] = max(widest.get(node.event, 0), node.within_days)
    return widest


def rows_estimate(queryset: QuerySet) -> float:
    """Return the database's estimate of the rows ``queryset`` returns."""
    select, params = select_sql(queryset)
    return sql.rows_estimate(select, params, cap=SQLITE_COUNT_CAP)


def window_rows(event: str, days: int, *, now: datetime.datetime) -> float:
    """Return the estimated number of ``event`` rows in the last ``days`` days before ``now``."""
    since = now - datetime.timedelta(days=days)
    events = Event.objects.filter(name=event, occurred_at__gte=since, occurred_at__lte=now)
    return rows_estimate(events.values("profile_id"))


def plan_forced(plan: str | None) -> str:
    """Return the plan asked for (the argument, else the setting): auto, grouped or correlated."""
    plan = plan or getattr(settings, "SEGMENT_PLAN", AUTO)
    if plan != AUTO and plan not in PLANS:
        raise ValueError(ERROR_PLAN.format(plan=plan, plans=", ".join(PLANS)))
    return plan


def exists_windows(tree: rules.Node) -> set[tuple[str, int]]:
    """Return the (event, days) windows the rule asks "any" or "none" of (EXISTS)."""
    return {
        (node.event, node.within_days)
        for node in rules.walk(tree)
        if isinstance(node, rules.EventCondition)
        and node.measure == "count"
        and (node.op, node.value) in COUNT_EXISTS
    }


def hashed_windows(tree: rules.Node, *, now: datetime.datetime) -> frozenset:
    """Return the rule's EXISTS windows whose profile ids fit in one hash table of a query."""
    memory = sql.hash_memory()
    windows = exists_windows(tree)
    if memory is None:
        return frozenset(windows)
    return frozenset(
        (event, days)
        for event, days in windows
        if window_rows(event, days, now=now) * HASH_ROW_BYTES <= memory
    )


def plan_choose(tree: rules.Node, *, now: datetime.datetime, plan: str | None = None) -> PlanChoice:
    """Return the plan for ``tree``: forced by ``plan`` or SEGMENT_PLAN, else the cheaper one by
    the database's estimates of the candidates and the event windows. A grouped plan also
    names the EXISTS windows it may hash."""
    forced = plan_forced(plan)
    if forced == CORRELATED:
        return PlanChoice(plan=forced)
    windows = _aggregates(tree)
    if forced == GROUPED or not windows:  # without counts or sums, nothing else to choose
        return PlanChoice(plan=GROUPED, hashed=hashed_windows(tree, now=now))
    profiles = rows_estimate(Profile.objects.values("pk"))
    candidates = candidates_estimate(rule_candidate_terms(tree), profiles, now=now)
    rows = {event: window_rows(event, days, now=now) for event, days in windows.items()}
    grouped = sum(rows.values())
    per_profile = sum(PROBE_ROWS + count / max(profiles, 1) for count in rows.values())
    correlated = candidates * per_profile
    chosen = CORRELATED if correlated < grouped else GROUPED
    return PlanChoice(
        plan=chosen,
        candidates=candidates,
        profiles=profiles,
        grouped_cost=grouped,
        correlated_cost=correlated,
        hashed=hashed_windows(tree, now=now) if chosen == GROUPED else frozenset(),
    )


def rule_matching(
    tree: rules.Node, *, now: datetime.datetime, plan: str | None = None
) -> tuple[QuerySet, PlanChoice]:
    """Return the ids (``values("pk")``) of the profiles satisfying ``tree`` in its chosen plan,
    and the choice."""
    choice = plan_choose(tree, now=now, plan=plan)
    condition = compile_rule(tree, now=now, plan=choice.plan, hashed=choice.hashed)
    return Profile.objects.filter(condition).values("pk"), choice


def shared_candidates(
    trees: list[rules.Node], *, now: datetime.datetime, plan: str | None = None
) -> Q | None:
    """Return the union of the rules' candidates, when a refresh of them all should read only
    those profiles' events (``segments.compiler.shared``); None to scan each window for everyone.

    Chosen as ``plan_choose`` does, with the union's estimate against the windows the rules
    share; forced by ``plan`` or SEGMENT_PLAN (``GROUPED``: never restrict).
    """
    forced = plan_forced(plan)
    windows: dict[str, int] = {}
    for tree in trees:
        for event, days in _aggregates(tree).items():
            windows[event] = max(windows.get(event, 0), days)
    if not windows or forced == GROUPED:
        return None
    union: Terms = []
    for tree in trees:
        # segments refreshed earlier in the same run may change what their references select
        terms = rule_candidate_terms(tree, segments=True)
        if terms is None:
            return None  # one rule may select anyone
        union.extend(terms)
    if forced == AUTO:
        profiles = rows_estimate(Profile.objects.values("pk"))
        union = list(dict.fromkeys(union))  # the same intersection once
        candidates = candidates_estimate(union, profiles, now=now)
        rows = [window_rows(event, days, now=now) for event, days in windows.items()]
        per_profile = sum(PROBE_ROWS + count / max(profiles, 1) for count in rows)
        if candidates * per_profile >= sum(rows):
            return None
    return terms_q(union, now=now, plan=CORRELATED)
