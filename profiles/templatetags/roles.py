"""Template filters about roles: ``{% load roles %}{% if user|has_role:"consent_admin" %}``, and
contact data as the user may see it: ``{{ profile.phone|phone_for:user }}`` (``core.masking``)."""

from django import template

from core.masking import contact_for
from core.roles import user_has_role

register = template.Library()


@register.filter
def has_role(user, role: str) -> bool:
    """Return whether ``user`` is a superuser or holds ``role``."""
    return user_has_role(user, role)


@register.filter
def email_for(value, user) -> str:
    """Return an email address in full for consent admins, masked for everyone else."""
    return contact_for(user, value, kind="email")


@register.filter
def phone_for(value, user) -> str:
    """Return a phone number in full for consent admins, masked for everyone else."""
    return contact_for(user, value, kind="phone")


@register.filter
def identifier_for(value, user) -> str:
    """Return a WeChat or WeCom identifier in full for consent admins, masked for everyone else."""
    return contact_for(user, value, kind="identifier")


@register.filter
def address_for(value, user) -> str:
    """Return a send's address (email or phone) in full for consent admins, else masked."""
    return contact_for(user, value)
