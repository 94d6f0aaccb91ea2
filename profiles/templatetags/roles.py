"""Template filters about roles: ``{% load roles %}{% if user|has_role:"consent_admin" %}``."""

from django import template

from core.roles import user_has_role

register = template.Library()


@register.filter
def has_role(user, role: str) -> bool:
    """Return whether ``user`` is a superuser or holds ``role``."""
    return user_has_role(user, role)
