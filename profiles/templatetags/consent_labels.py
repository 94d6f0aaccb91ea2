"""Consent purposes by their label, built-in or from CONSENT_EXTRA_PURPOSES, not their slug."""

from django import template

from profiles.services.consent import consent_purposes

register = template.Library()


@register.filter
def purpose_label(value: str) -> str:
    """Return the purpose's label in the user's language, or the slug when it is unknown."""
    return str(dict(consent_purposes()).get(value, value))
