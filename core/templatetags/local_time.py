"""The ``when`` filter: a moment in local time in the one format of core.times."""

from django import template

from core.times import moment_text

register = template.Library()


@register.filter
def when(value) -> str:
    """Return the moment as local time, e.g. "2026-03-01 14:05" (see core.times)."""
    return moment_text(value)
