"""A segment rule as a sentence in the reader's language (English or Simplified Chinese).

For example: "城市 等于 上海 且 最近 90 天 购买 次数 ≥ 2".

The sentence is read from the rule's JSON as stored, without parsing it (no check, nothing
refused): a page showing a rule must not fail because a segment, tag or stage it names was
deleted since, and a node it cannot read is shown as its JSON. Each condition kind describes
its own nodes: the built-in ones here, others through the ``describer`` they register with
``segments.conditions.condition_register`` (``message`` in campaigns, ``stage`` in journeys).

``rule_sentence`` returns plain text; ``rule_sentence_html`` the same words as safe HTML in
which each translated name carries the raw one as its tooltip (``title``), so that people who
know the JSON can still find ``value_tier`` under "价值分层".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from profiles.selectors import tags_all
from segments import labels
from segments.conditions import condition_kinds
from segments.models import Segment

GROUP_KEYS = ("all", "any", "not")
# A node the caller reads before the registry does (a flow's "opened the message of step 2").
Local = Callable[[Mapping, "Writer"], str | None]


class Writer:
    """Put the pieces of a sentence together, as plain text or as escaped HTML."""

    def __init__(self, *, html: bool, local: Local | None = None):
        self.html = html
        self.local = local
        self._cache: dict[str, Any] = {}

    def term(self, label: Any, raw: Any) -> str:
        """Return a translated name, with the raw name as its tooltip in HTML."""
        label, raw = str(label), str(raw)
        if not self.html:
            return label
        if label == raw:
            return format_html('<span class="rule-term">{}</span>', label)
        return format_html('<span class="rule-term" title="{}">{}</span>', raw, label)

    def value(self, value: Any, attr: str = "") -> str:
        """Return a value of the rule as people read it (a list joined, a choice's label)."""
        if isinstance(value, list):
            return self.join(pgettext("list separator", ", "), [self.value(v, attr) for v in value])
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        choice = labels.choice_label(attr, value) if attr and isinstance(value, str) else None
        if choice is not None:
            return self.term(choice, value)
        text = "—" if value is None or value == "" else str(value)
        return format_html('<span class="rule-value">{}</span>', text) if self.html else text

    def fill(self, template: Any, **parts: Any) -> str:
        """Return a translated template with its ``%(name)s`` parts put in."""
        if not self.html:
            return str(template) % {key: str(part) for key, part in parts.items()}
        escaped = {key: conditional_escape(part) for key, part in parts.items()}
        return mark_safe(escape(str(template)) % escaped)  # noqa: S308 (both sides escaped)

    def join(self, separator: str, items: list[str]) -> str:
        if not self.html:
            return separator.join(items)
        return mark_safe(escape(separator).join(conditional_escape(item) for item in items))  # noqa: S308

    def cached(self, key: str, load: Callable[[], Any]) -> Any:
        """Return ``load()``, called once per sentence (names looked up in one query)."""
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]


def rule_sentence(rule: Any, *, local: Local | None = None) -> str:
    """Return the rule as a sentence in the active language, as plain text."""
    return _node(rule, Writer(html=False, local=local), nested=False)


def rule_sentence_html(rule: Any, *, local: Local | None = None) -> SafeString:
    """Return the rule as a sentence in the active language, as HTML with raw names on hover."""
    return mark_safe(_node(rule, Writer(html=True, local=local), nested=False))  # noqa: S308


def _node(node: Any, w: Writer, *, nested: bool) -> str:
    if not isinstance(node, Mapping) or not node:
        return _("no rule")
    if w.local is not None and (said := w.local(node, w)) is not None:
        return said
    for group, joiner in (
        ("all", pgettext("rule", " and ")),
        ("any", pgettext("rule", " or ")),
    ):
        if isinstance(node.get(group), list) and node[group]:
            text = w.join(joiner, [_node(child, w, nested=True) for child in node[group]])
            return w.fill("(%(rule)s)", rule=text) if nested and len(node[group]) > 1 else text
    if "not" in node:
        return w.fill(pgettext("rule", "not %(rule)s"), rule=_node(node["not"], w, nested=True))
    return _condition(node, w)


def _condition(node: Mapping, w: Writer) -> str:
    for key, kind in condition_kinds().items():
        if key in node and key not in GROUP_KEYS and kind.describer is not None:
            try:
                return kind.describer(node, w)
            except (KeyError, TypeError, ValueError, AttributeError):
                break  # not the shape the kind reads: shown as JSON below
    return w.fill(_("a condition shown as is: %(json)s"), json=json.dumps(node, ensure_ascii=False))


# The built-in kinds -----------------------------------------------------------------------------


def _days(node: Mapping, key: str = "value") -> str:
    return str(int(node[key]))


def describe_attribute(node: Mapping, w: Writer) -> str:
    """Say ``{"attr": …, "op": …, "value": …}``."""
    attr, op = str(node["attr"]), node["op"]
    parts = {"attribute": w.term(labels.attribute_label(attr), attr)}
    if op in ("is_set", "is_not_set"):
        return w.fill("%(attribute)s %(operator)s", operator=_operator(op, w), **parts)
    if op == "within_last_days":
        return w.fill(
            _("%(attribute)s is within the last %(days)s days"), days=_days(node), **parts
        )
    if op == "more_than_days_ago":
        return w.fill(_("%(attribute)s is more than %(days)s days ago"), days=_days(node), **parts)
    if op == "between":
        low, high = node["value"]
        return w.fill(
            _("%(attribute)s is between %(low)s and %(high)s"),
            low=w.value(low, attr),
            high=w.value(high, attr),
            **parts,
        )
    if op not in labels.OPERATOR_LABELS:
        raise ValueError(op)
    return w.fill(
        "%(attribute)s %(operator)s %(value)s",
        operator=_operator(op, w),
        value=w.value(node["value"], attr),
        **parts,
    )


def _operator(op: str, w: Writer) -> str:
    return w.term(labels.OPERATOR_LABELS[op], op)


def _tag_labels() -> dict[str, str]:
    return {tag.slug: tag.label for tag in tags_all()}


def describe_tag(node: Mapping, w: Writer) -> str:
    """Say ``{"tag": slug, "op": "has" | "has_not"}`` with the tag's label."""
    slug = str(node["tag"])
    tag = w.term(w.cached("tags", _tag_labels).get(slug, slug), slug)
    if node["op"] == "has_not":
        return w.fill(_("does not have the tag %(tag)s"), tag=tag)
    if node["op"] != "has":
        raise ValueError(node["op"])
    return w.fill(_("has the tag %(tag)s"), tag=tag)


def _comparison(comparison: Mapping, w: Writer) -> str:
    ((op, value),) = comparison.items()
    if op == "between":
        low, high = value
        return w.fill(_("between %(low)s and %(high)s"), low=w.value(low), high=w.value(high))
    return w.fill(
        "%(operator)s %(value)s", operator=labels.AGGREGATE_LABELS[op], value=w.value(value)
    )


def event_words(event: str, where: Any, w: Writer) -> str:
    """Return an event name for people, with the properties it keeps (``where``)."""
    name = w.term(labels.event_label(event), event)
    if not isinstance(where, Mapping) or not where:
        return name
    pairs = [
        w.fill("%(name)s = %(value)s", name=key, value=w.value(value))
        for key, value in where.items()
    ]
    return w.fill(
        _("%(event)s with %(properties)s"),
        event=name,
        properties=w.join(pgettext("list separator", ", "), pairs),
    )


def describe_event(node: Mapping, w: Writer) -> str:
    """Say an event count or sum: "最近 90 天 购买 次数 ≥ 2"."""
    parts = {
        "event": event_words(str(node["event"]), node.get("where"), w),
        "days": _days(node, "within_days"),
    }
    if "sum" in node:
        return w.fill(
            _("%(event)s amount in the last %(days)s days %(comparison)s"),
            comparison=_comparison(node["value"], w),
            **parts,
        )
    return w.fill(
        _("%(event)s count in the last %(days)s days %(comparison)s"),
        comparison=_comparison(node["count"], w),
        **parts,
    )


def _segment_names() -> dict[str, str]:
    return dict(Segment.objects.values_list("slug", "name"))


def describe_segment(node: Mapping, w: Writer) -> str:
    """Say ``{"segment": slug}`` with the segment's name."""
    slug = str(node["segment"])
    name = w.cached("segments", _segment_names).get(slug) or slug
    return w.fill(_("in the segment %(segment)s"), segment=w.term(name, slug))


def describe_consent(node: Mapping, w: Writer) -> str:
    """Say ``{"consent": channel, "op": "granted"}``."""
    channel = str(node["consent"])
    if node["op"] != "granted":
        raise ValueError(node["op"])
    label = labels.CONSENT_CHANNEL_LABELS.get(channel, channel)
    return w.fill(_("has granted %(channel)s"), channel=w.term(label, channel))
