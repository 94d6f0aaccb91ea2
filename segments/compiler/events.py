"""Compile tags, events, segment references and consent: semi-joins and grouped scans.

An event count or sum has two plans (``Env.plan``). ``GROUPED``: one grouped scan of the event
window, ``pk IN (SELECT profile_id … GROUP BY profile_id HAVING …)``, good when many profiles
remain after the cheap conditions. ``CORRELATED``: the same aggregate for one profile at a time,
``EXISTS (SELECT … WHERE profile_id = p.id … GROUP BY profile_id HAVING …)``, which reads only
that profile's events through the ``(profile_id, name, occurred_at)`` index; PostgreSQL runs such
a subplan after the cheaper conditions of the same WHERE (it orders them by cost), so only the
candidates are probed. Both give the same answer; ``segments.compiler.planning`` chooses.
"""

from __future__ import annotations

import datetime
import operator
from decimal import Decimal
from functools import reduce

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.expressions import RawSQL

from profiles.models import Event, ProfileTag
from profiles.services.consent import consent_granted_q
from segments import rules, sql
from segments.compiler.expressions import (
    CORRELATED,
    COUNT_EXISTS,
    GROUPED,
    HOLDS,
    Env,
    compare,
    event_measure,
    event_properties_q,
)
from segments.compiler.shared import SharedMeasures, measure_key, shared_event
from segments.models import SegmentMembership


def _positive_aggregate(node) -> bool:
    """Return whether an event condition is a grouped ``IN`` that profiles without events fail."""
    if not isinstance(node, rules.EventCondition):
        return False
    if node.measure == "count" and (node.op, node.value) in COUNT_EXISTS:
        return False  # compiled as a cheaper EXISTS
    zero = 0 if node.measure == "count" else Decimal(0)
    return not HOLDS[node.op](zero, node.operand)


def mergeable_events(
    children: list, shared: SharedMeasures | None = None
) -> tuple[list[list], list]:
    """Split an ``all`` group's children into event-aggregate runs to merge, and the rest.

    With ``shared``, only the aggregates its tables hold are merged.
    """
    by_event: dict[str, list] = {}
    for _i, child in children:
        if _positive_aggregate(child) and (shared is None or measure_key(child) in shared.columns):
            by_event.setdefault(child.event, []).append(child)
    merged = [nodes for nodes in by_event.values() if len(nodes) > 1]
    taken = {id(node) for nodes in merged for node in nodes}
    return merged, [(i, child) for i, child in children if id(child) not in taken]


def events_merged(nodes: list, env: Env) -> Q:
    """Return the AND of several counts/sums of one event as a single aggregate (by plan).

    The scan (or each profile's probe) covers the widest window; each measure is filtered to
    its own window and properties (``where``). Profiles without events fail every one of these
    conditions, as they do when compiled one by one.
    """
    widest = env.now - datetime.timedelta(days=max(node.within_days for node in nodes))
    events = Event.objects.filter(
        name=nodes[0].event, occurred_at__gte=widest, occurred_at__lte=env.now
    )
    measures, holds = {}, []
    for index, node in enumerate(nodes):
        window = Q(occurred_at__gte=env.now - datetime.timedelta(days=node.within_days))
        window &= event_properties_q(node.where)
        name = f"measure_{index}"
        measures[name] = event_measure(node.measure, window)
        holds.append(compare(F(name), node.op, node.operand))
    return _aggregate_holds(events, measures, reduce(operator.and_, holds), env)


def _aggregate_holds(events, measures: dict, holds: Q, env: Env, negate: bool = False) -> Q:
    """Return "the profile's totals of ``events`` satisfy ``holds``" (or, with ``negate``, no
    totals of it fail to): a grouped scan joined with IN, or a correlated EXISTS, by plan."""
    if env.plan == CORRELATED:
        events = events.filter(profile=OuterRef("pk"))
    totals = events.order_by().values("profile").annotate(**measures).filter(holds)
    found = Q(Exists(totals)) if env.plan == CORRELATED else Q(pk__in=totals.values("profile"))
    return ~found if negate else found


def shared_events_merged(nodes: list, env: Env) -> Q:
    """Return the AND of several counts/sums of one event, read in one go from its shared table.

    One subquery instead of one per condition: the database reads the table once per rule
    (or probes it once per candidate profile), not once per condition.
    """
    tests, params = [], []
    for node in nodes:
        table, column = env.shared.columns[measure_key(node)]
        test, values = sql.comparison(column, node.op, node.operand)
        tests.append(f"({test})")
        params.extend(values)
    return Q(pk__in=RawSQL(sql.shared_ids(table, " AND ".join(tests)), params))  # noqa: S611


# Tags, events, segments -------------------------------------------------------------------------


def compile_tag(node: rules.TagCondition, path: str, env: Env) -> Q:
    """Compile a tag condition: carriers live at ``now`` (or the shared list of them)."""
    if env.shared is not None and node.tag in env.shared.tags:
        carrying = Q(pk__in=RawSQL(sql.shared_ids(env.shared.tags[node.tag]), []))  # noqa: S611
        return carrying if node.op == "has" else ~carrying
    live = Q(expires_at__isnull=True) | Q(expires_at__gt=env.now)
    carrying = Exists(ProfileTag.objects.filter(live, profile=OuterRef("pk"), tag__slug=node.tag))
    return Q(carrying) if node.op == "has" else ~Q(carrying)


def compile_event(node: rules.EventCondition, path: str, env: Env) -> Q:
    """Compile an event count or sum: EXISTS for "any"/"none", else an aggregate by plan.

    ``where`` filters the events before they are counted or summed (in the scan or the probe).
    """
    shared = shared_event(node, env)
    if shared is not None:
        return shared
    since = env.now - datetime.timedelta(days=node.within_days)
    events = Event.objects.filter(
        event_properties_q(node.where),
        name=node.event,
        occurred_at__gte=since,
        occurred_at__lte=env.now,
    )
    if node.measure == "count":
        any_event = COUNT_EXISTS.get((node.op, node.value))
        if any_event is not None:
            # "none" stays NOT EXISTS: an anti-join, which may run in parallel, where NOT IN
            # is a hashed subplan that keeps the whole query in one process
            hashed = (node.event, node.within_days) in env.hashed
            if any_event and env.plan == GROUPED and hashed:
                found = Q(pk__in=events.values("profile"))
            else:
                found = Q(Exists(events.filter(profile=OuterRef("pk"))))
            return found if any_event else ~found
        zero = 0
    else:
        zero = Decimal(0)
    measures = {"measure": event_measure(node.measure)}
    holds = compare(F("measure"), node.op, node.operand)
    if HOLDS[node.op](zero, node.operand):  # profiles without events are in: exclude the others
        return _aggregate_holds(events, measures, ~holds, env, negate=True)
    return _aggregate_holds(events, measures, holds, env)


def compile_segment(node: rules.SegmentCondition, path: str, env: Env) -> Q:
    """Compile a segment reference: the referenced segment's stored membership."""
    members = SegmentMembership.objects.filter(profile=OuterRef("pk"), segment__slug=node.segment)
    return Q(Exists(members))


def compile_consent(node: rules.ConsentCondition, path: str, env: Env) -> Q:
    """Compile a consent condition: marketing consent granted on the channel."""
    return consent_granted_q(channel=node.consent)
