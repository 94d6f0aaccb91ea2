"""The sender of a campaign's emails: one address, alone or with a display name."""

from email.utils import parseaddr
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

ERROR_BAD_FROM = gettext_noop(
    "Enter the sender as an address (news@shop.example) or as a name and an address "
    "(Shop <news@shop.example>)."
)


def from_email_check(value: Any) -> str | None:
    """Return why ``value`` cannot be the sender of an email, or None (empty: the default)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00"):
        return _(ERROR_BAD_FROM)
    if not value.strip():
        return None
    if value.count("<") != value.count(">") or value.count("<") > 1:
        return _(ERROR_BAD_FROM)
    try:
        sanitize_address(value, "utf-8")  # as the message is built: one mailbox, well formed
        validate_email(parseaddr(value)[1])
    except (ValueError, IndexError, ValidationError):
        return _(ERROR_BAD_FROM)
    return None
