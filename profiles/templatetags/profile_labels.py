"""Stored names of consent purposes, events and acquisition channels as people call them."""

from django import template

from profiles import labels
from profiles.services.consent import consent_purposes

register = template.Library()


@register.filter
def purpose_label(value: str) -> str:
    """Return the purpose's label in the user's language, or the slug when it is unknown."""
    return str(dict(consent_purposes()).get(value, value))


@register.filter
def event_label(value: str) -> str:
    """Return the event's label in the user's language, or its name when it is unknown."""
    return labels.event_label(value)


@register.filter
def acquisition_label(value: str) -> str:
    """Return the acquisition channel's label in the user's language, or the name if unknown."""
    return labels.acquisition_channel_label(value)
