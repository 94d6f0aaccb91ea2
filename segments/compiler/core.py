"""Compile a parsed rule into one condition on profiles, kind by kind through the registry."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from profiles.services.consent import profiling_allowed_q
from segments import rules
from segments.compiler.expressions import GROUPED, PLANS, Env
from segments.conditions import condition_kind_of

if TYPE_CHECKING:
    from segments.compiler.shared import SharedMeasures

ERROR_NOT_COMPILABLE = "No compiler is registered for {node}."
ERROR_PLAN = "Unknown segment plan “{plan}”: use one of {plans}."


def uses_behaviour(tree: rules.Node) -> bool:
    """Return whether a rule looks at behaviour: events, tags, computed features, stages …

    Each registered kind says so for its nodes (``behaviour``); groups do not themselves.
    """
    for node in rules.walk(tree):
        kind = condition_kind_of(node)
        if kind is not None and kind.behaviour is not None and kind.behaviour(node):
            return True
    return False


def compile_rule(
    tree: rules.Node,
    *,
    now: datetime.datetime | None = None,
    respect_profiling: bool = True,
    shared: SharedMeasures | None = None,
    plan: str = GROUPED,
    hashed: frozenset = frozenset(),
) -> Q:
    """Return the condition selecting the profiles that satisfy ``tree`` at ``now``.

    A rule that looks at behaviour leaves out the profiles that withdrew personalised profiling
    (``profiles.services.consent``), unless ``respect_profiling`` is false (for explanations).
    With ``shared``, event counts and sums are read from tables already filled for that plan.
    ``plan`` is how event counts and sums not read from ``shared`` run: ``GROUPED`` (one grouped
    scan each) or ``CORRELATED`` (probed per candidate profile); ``segments.compiler.planning``
    chooses one from the database's estimates, and which event windows are small enough for a
    grouped plan to hash (``hashed``, see ``Env``). Compiling itself runs no query.
    Raise RuleError for a condition that cannot run (e.g. a journey stage deleted since).
    """
    if plan not in PLANS:
        raise ValueError(ERROR_PLAN.format(plan=plan, plans=", ".join(PLANS)))
    env = Env(
        now=now or timezone.now(),
        tz=timezone.get_default_timezone(),
        shared=shared,
        plan=plan,
        hashed=hashed,
    )
    condition = compile_node(tree, "", env)
    if respect_profiling and uses_behaviour(tree):
        # NOT EXISTS in every plan: a top-level anti-join, which may run in parallel (NOT IN is
        # a hashed subplan, which keeps the query in one process)
        condition &= profiling_allowed_q()
    return condition


def compile_node(node: rules.Node, path: str, env: Env) -> Q:
    """Return the condition of one node at ``path`` (groups compile their children with this)."""
    kind = condition_kind_of(node)
    if kind is None:
        raise TypeError(ERROR_NOT_COMPILABLE.format(node=type(node).__name__))
    return kind.compiler(node, path, env)
