"""Traits in templates: which keys a template reads, which profiles have them, who lacks them.

A template that reads ``traits.level`` fails for each profile without that trait (rendering is
strict). So the save-time check renders with the traits that exist (a real value of each), a
trait no profile has is an error, and a campaign warns with the share of its audience that
lacks each trait it reads without a fallback (``default()``, or ``is defined``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from jinja2 import nodes
from jinja2.exceptions import TemplateError

from campaigns.services.audience import campaign_audience
from profiles.models import Profile

WARNING_TRAIT_MISSING = gettext_noop(
    "{percent} of the audience ({count} of {total}) has no trait “{name}”: their messages will "
    "fail. Give a fallback, e.g. {{{{ traits.{name} | default('') }}}}."
)
MAX_TRAITS = 50  # trait keys looked up per template
_FALLBACK_FILTERS = ("default", "d")
_FALLBACK_TESTS = ("defined", "undefined")


def _trait_key(node: nodes.Node) -> str | None:
    """Return the key of ``traits.key`` or ``traits['key']``, or None for anything else."""
    if not isinstance(node, (nodes.Getattr, nodes.Getitem)):
        return None
    if not (isinstance(node.node, nodes.Name) and node.node.name == "traits"):
        return None
    if isinstance(node, nodes.Getattr):
        return None if hasattr(dict, node.attr) else node.attr  # traits.get(…), traits.items()
    value = node.arg.value if isinstance(node.arg, nodes.Const) else None
    return value if isinstance(value, str) else None


def trait_references(ast: nodes.Template) -> tuple[set[str], set[str]]:
    """Return the trait keys a template reads without a fallback, and those it reads with one."""
    guarded_nodes, tested = set(), set()
    for node in ast.find_all(nodes.Filter):
        if node.name in _FALLBACK_FILTERS and node.node is not None:
            guarded_nodes.add(id(node.node))
    for node in ast.find_all(nodes.Test):
        if node.name in _FALLBACK_TESTS and _trait_key(node.node):
            tested.add(_trait_key(node.node))
    plain, guarded = set(), set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        key = _trait_key(node)
        if key is None:
            continue
        if id(node) in guarded_nodes or key in tested:
            guarded.add(key)
        else:
            plain.add(key)
    return plain - guarded, guarded


def trait_samples(keys: Iterable[str]) -> dict[str, Any]:
    """Return a real value of each key some profile has (keys no profile has are left out)."""
    samples = {}
    for key in sorted(keys)[:MAX_TRAITS]:
        found = (
            Profile.objects.filter(traits__has_key=key)
            .annotate(value=KeyTransform(key, "traits"))
            .values_list("value", flat=True)[:1]
        )
        for value in found:
            samples[key] = value
    return samples


def _campaign_trait_keys(campaign) -> set[str]:
    from campaigns.services.content import template_ast

    keys: set[str] = set()
    for variant in campaign.variants.all():
        for field in ("subject", "body_text", "body_html"):
            source = getattr(variant, field)
            if not source or "traits" not in source:
                continue
            try:
                keys |= trait_references(template_ast(source, field=field))[0]
            except (TemplateError, ValueError):
                continue  # a template that does not parse has its error elsewhere
    return keys


def content_warnings(*, campaign) -> list[str]:
    """Return a warning for each trait the campaign's templates read without a fallback that
    some of its audience (its segments, less those left out) lacks, with the share."""
    keys = sorted(_campaign_trait_keys(campaign))[:MAX_TRAITS]
    if not keys or not campaign.include_segments.exists():
        return []
    counts = campaign_audience(campaign=campaign).aggregate(
        total=Count("pk"),
        **{f"k{i}": Count("pk", filter=~Q(traits__has_key=key)) for i, key in enumerate(keys)},
    )
    total = counts["total"]
    warnings = []
    for i, key in enumerate(keys):
        missing = counts[f"k{i}"]
        if total and missing:
            warnings.append(
                _(WARNING_TRAIT_MISSING).format(
                    name=key, percent=f"{missing / total:.0%}", count=missing, total=total
                )
            )
    return warnings
