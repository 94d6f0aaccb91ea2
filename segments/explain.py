"""Why a profile is (or is not) in a segment: the rule's tree with each node's result and value.

Each condition is answered by the compiler itself (``compile_rule`` of that one node, filtered
to the one profile), so the explanation can never disagree with an evaluation at the same
moment. Next to the answer stands the value the condition looked at: the attribute or trait,
the tag (and when it expires), the event count or sum in the condition's window, the membership
of the referenced segment. Groups combine their children's answers as the compiler does: ``all``
is met when every child is, ``any`` when one is, ``not`` when its condition is not. A condition
that cannot run (a journey stage deleted since the rule was saved) has no answer (``met`` is
None) and a group that depends on one says so too. Each condition kind registers its explainer
in ``segments.conditions``; the built-in ones are here.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.formats import localize
from django.utils.translation import gettext as _

from core.times import moment_text
from profiles.models import ConsentPurpose, Event, Profile, ProfileTag
from profiles.services.consent import consent_current, profiling_refused_ids
from segments import rules
from segments.compiler import compile_rule, uses_behaviour
from segments.compiler.expressions import event_properties_q
from segments.conditions import Attribute, attributes, condition_kind_of
from segments.models import Segment, SegmentMembership
from segments.selectors import segment_rule

CENTS = Decimal("0.01")


@dataclass
class ExplainNode:
    """One node of the rule with whether the profile meets it and the value it looked at.

    ``met`` is None when the condition cannot be answered yet. ``actual`` is the value in
    Python form (for code and tests), ``shown`` the same for people.
    """

    path: str
    kind: str  # all, any, not, attr, tag, event, segment, consent, stage
    condition: str
    met: bool | None
    actual: Any = None
    shown: str = ""
    children: list[ExplainNode] = field(default_factory=list)


@dataclass
class Explanation:
    """The explanation of one profile against one segment, and its stored membership."""

    segment: Segment
    profile: Profile
    as_of: datetime.datetime
    tree: ExplainNode | None  # None for a static list or an invalid rule
    error: str = ""
    is_member: bool = False
    member_since: datetime.datetime | None = None
    # The rule looks at behaviour and the profile withdrew (or denied) personalised profiling:
    # every evaluation leaves it out, whatever its conditions say.
    profiling_refused: bool = False

    @property
    def matches(self) -> bool | None:
        """Return whether the rule selects the profile now (None when it cannot say)."""
        if self.tree is None:
            return None
        return False if self.profiling_refused else self.tree.met

    @property
    def differs(self) -> bool:
        """Return whether the stored membership disagrees with the rule's answer now."""
        return self.matches is not None and self.matches != self.is_member


def segment_explain(
    *, segment: Segment, profile: Profile, now: datetime.datetime | None = None
) -> ExplainNode:
    """Return the segment's rule as a tree telling, node by node, whether ``profile`` meets it.

    Raise ``segments.rules.RuleError`` when the rule is invalid (a static list has no rule).
    """
    tree = rules.parse_rule(segment.rule, resolve=segment_rule, slug=segment.slug)
    profile = Profile.objects.get(pk=profile.pk)  # the stored values, as the queries see them
    return _explain(tree, "", profile, now or timezone.now())


def segment_explanation(
    *, segment: Segment, profile: Profile, now: datetime.datetime | None = None
) -> Explanation:
    """Return the explanation and the stored membership; an invalid rule is reported, not raised."""
    now = now or timezone.now()
    membership = SegmentMembership.objects.filter(segment=segment, profile=profile).first()
    explanation = Explanation(
        segment=segment,
        profile=profile,
        as_of=now,
        tree=None,
        is_member=membership is not None,
        member_since=membership.since if membership else None,
    )
    if segment.kind == Segment.Kind.STATIC:
        explanation.error = _("A static list has no rule: its members are added by hand.")
        return explanation
    try:
        tree = rules.parse_rule(segment.rule, resolve=segment_rule, slug=segment.slug)
        explanation.tree = _explain(tree, "", Profile.objects.get(pk=profile.pk), now)
    except rules.RuleError as error:
        explanation.error = str(error)
        return explanation
    explanation.profiling_refused = (
        uses_behaviour(tree) and profiling_refused_ids().filter(profile_id=profile.pk).exists()
    )
    return explanation


def explain_lines(tree: ExplainNode) -> list[dict]:
    """Flatten the tree for a template: each line says whether a list opens after it, and how
    many lists close after it (so that nested lists render without a recursive template)."""
    lines: list[dict] = []

    def visit(node: ExplainNode) -> None:
        lines.append({"node": node, "opens": bool(node.children), "closes": []})
        for child in node.children:
            visit(child)
        if node.children:
            lines[-1]["closes"].append(None)

    visit(tree)
    return lines


# Nodes ------------------------------------------------------------------------------------------


def _explain(node: rules.Node, path: str, profile: Profile, now) -> ExplainNode:
    if isinstance(node, rules.AllOf | rules.AnyOf):
        kind = "all" if isinstance(node, rules.AllOf) else "any"
        items = rules.key_path(path, kind)
        children = [
            _explain(child, rules.index_path(items, i), profile, now)
            for i, child in enumerate(node.children)
        ]
        met = _all([c.met for c in children]) if kind == "all" else _any([c.met for c in children])
        condition = _("all of") if kind == "all" else _("any of")
        return ExplainNode(_shown_path(path), kind, condition, met, children=children)
    if isinstance(node, rules.Not):
        child = _explain(node.condition, rules.key_path(path, "not"), profile, now)
        met = None if child.met is None else not child.met
        return ExplainNode(_shown_path(path), "not", _("not"), met, children=[child])
    return _leaf(node, path, profile, now)


def _all(results: list[bool | None]) -> bool | None:
    if False in results:
        return False
    return None if None in results else True


def _any(results: list[bool | None]) -> bool | None:
    if True in results:
        return True
    return None if None in results else False


def _shown_path(path: str) -> str:
    return path or "rule"  # as RuleError names the top of the rule


def _leaf(node, path: str, profile: Profile, now) -> ExplainNode:
    condition = json.dumps(node.to_json(), ensure_ascii=False)
    registered = condition_kind_of(node)
    try:
        compiled = compile_rule(node, now=now, respect_profiling=False)
    except rules.RuleError as error:  # a condition that cannot run (e.g. a deleted stage)
        shown = _("not available yet: {reason}").format(reason=error.message)
        return ExplainNode(_shown_path(path), registered.key, condition, None, shown=shown)
    met = Profile.objects.filter(pk=profile.pk).filter(compiled).exists()
    kind, actual, shown = registered.explainer(node, profile, now)
    return ExplainNode(_shown_path(path), kind, condition, met, actual, shown)


# Actual values: (kind, value, value for people) ------------------------------------------------

MISSING = object()


def _format(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return moment_text(value)
    if isinstance(value, datetime.date | Decimal):
        return localize(value)
    return str(value)


def _related_value(attribute: Attribute, profile: Profile):
    rows = attribute.model.objects.filter(**{attribute.profile_field: profile.pk})
    return rows.values_list(attribute.field, flat=True).first()


def explain_attribute(node: rules.AttributeCondition, profile: Profile, now):
    """Return the attribute's or trait's value (a related row's field for a registered one)."""
    if node.is_trait:
        value = profile.traits.get(node.trait_key, MISSING)
        if value is MISSING:
            return "attr", None, _("{attr}: not present").format(attr=node.attr)
        shown = json.dumps(value, ensure_ascii=False)
        return "attr", value, _("{attr} = {value}").format(attr=node.attr, value=shown)
    attribute = attributes()[node.attr]
    if attribute.on_profile:
        value = getattr(profile, attribute.field)
    else:
        value = _related_value(attribute, profile)
    if value is None:
        shown = _("{attr}: not set").format(attr=node.attr)
    elif value == "":
        shown = _("{attr}: empty").format(attr=node.attr)
    else:
        shown = _("{attr} = {value}").format(attr=node.attr, value=_format(value))
    return "attr", value, shown


def explain_tag(node: rules.TagCondition, profile: Profile, now):
    """Return whether the profile carries the tag, and until when."""
    row = ProfileTag.objects.filter(profile=profile, tag__slug=node.tag).first()
    if row is None:
        return "tag", {"carries": False, "expires_at": None}, _("does not carry the tag")
    live = row.expires_at is None or row.expires_at > now
    actual = {"carries": live, "expires_at": row.expires_at}
    if row.expires_at is None:
        shown = _("carries the tag (no expiry)")
    elif live:
        shown = _("carries the tag until {at}").format(at=_format(row.expires_at))
    else:
        shown = _("the tag expired at {at}").format(at=_format(row.expires_at))
    return "tag", actual, shown


def _event_shown(node: rules.EventCondition) -> str:
    """Return the event of a condition for people, with the properties it keeps."""
    if not node.where:
        return node.event
    properties = ", ".join(
        f"{match.key} = {json.dumps(match.value, ensure_ascii=False)}" for match in node.where
    )
    return _("{event} with {properties}").format(event=node.event, properties=properties)


def explain_event(node: rules.EventCondition, profile: Profile, now):
    """Return the count, or the sum of amounts, of the profile's events in the window (those
    with the properties of ``where``, filtered as the compiler filters them)."""
    since = now - datetime.timedelta(days=node.within_days)  # the compiler's window
    events = Event.objects.filter(
        event_properties_q(node.where),
        profile=profile,
        name=node.event,
        occurred_at__gte=since,
        occurred_at__lte=now,
    )
    window = {"since": _format(since), "until": _format(now), "event": _event_shown(node)}
    if node.measure == "count":
        count = events.aggregate(count=Count("pk"))["count"]
        shown = _("{count} × {event} from {since} to {until}").format(count=count, **window)
        return "event", count, shown
    total = events.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    total = Decimal(total).quantize(CENTS, rounding=ROUND_HALF_UP)  # rounded to cents, as compared
    shown = _("amount sum {total} of {event} from {since} to {until}").format(
        total=_format(total), **window
    )
    return "event", total, shown


def explain_segment(node: rules.SegmentCondition, profile: Profile, now):
    """Return whether the profile is a stored member of the referenced segment."""
    member = SegmentMembership.objects.filter(profile=profile, segment__slug=node.segment).exists()
    if member:
        shown = _("a stored member of {segment}").format(segment=node.segment)
    else:
        shown = _("not a stored member of {segment}").format(segment=node.segment)
    return "segment", member, shown


def explain_consent(node: rules.ConsentCondition, profile: Profile, now):
    """Return the profile's current marketing consent on the channel."""
    state = consent_current(profile=profile).get((node.consent, ConsentPurpose.MARKETING))
    if state is None:
        return (
            "consent",
            None,
            _("no {channel} marketing consent recorded").format(channel=node.consent),
        )
    shown = _("{channel} marketing: {status} at {when}").format(
        channel=node.consent, status=state.get_status_display(), when=_format(state.recorded_at)
    )
    return "consent", state.status, shown
