"""Template filters of segment pages: ``{% load segments %}{{ value|tier_label }}``."""

from django import template

from profiles.models import ValueTier

register = template.Library()


@register.filter
def tier_label(value: str) -> str:
    """Return the name of value tier ``value`` ("" when the profile has none yet)."""
    return str(ValueTier(value).label) if value in ValueTier.values else ""


@register.filter
def percent(share: float | None) -> str:
    """Return a share (0 to 1) as a percentage with one decimal, "—" when there is none."""
    return "—" if share is None else f"{100 * share:.1f}%"
