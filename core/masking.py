"""Email addresses, phone numbers and platform identifiers in full only for the roles that
need them.

Consent admins (and superusers) answer data-subject requests and see contact data in full; every
other role sees it masked, in lists, on the 360° page, in the API and in exports: a phone number
keeps the first three and last four digits of its national number (``138****5678``), an email
address its first character and its domain (``h***@example.com``), a WeChat or WeCom
identifier its first and last four characters (``oUni***0001``). Whoever sees contact data in
full is recorded in the audit trail by the view that shows it.
"""

import phonenumbers

from core.roles import CONSENT_ADMIN, user_has_role

MASK = "*"


def contact_visible(user) -> bool:
    """Return whether ``user`` may see email addresses and phone numbers in full."""
    return user_has_role(user, CONSENT_ADMIN)


def phone_masked(value) -> str:
    """Return a phone number with the middle of its national number hidden."""
    text = str(value or "")
    if not text:
        return ""
    try:
        digits = str(phonenumbers.parse(text, None).national_number)
    except phonenumbers.NumberParseException:
        digits = "".join(char for char in text if char.isdigit())
    if len(digits) >= 8:
        return digits[:3] + MASK * (len(digits) - 7) + digits[-4:]
    return MASK * max(len(digits) - 2, 1) + digits[-2:]


def email_masked(value) -> str:
    """Return an email address with all of its local part but the first character hidden."""
    text = str(value or "")
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at:
        return MASK * 3
    return f"{local[:1]}{MASK * 3}@{domain}"


def identifier_masked(value) -> str:
    """Return a WeChat or WeCom identifier with all but its first and last four characters
    hidden (``oUni***0001``); a short one keeps only its last two."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) >= 12:
        return f"{text[:4]}{MASK * 3}{text[-4:]}"
    return MASK * 3 + text[-2:]


def address_masked(value) -> str:
    """Return an email address or a phone number (a send's address), masked."""
    text = str(value or "")
    return email_masked(text) if "@" in text else phone_masked(text)


def contact_for(user, value, *, kind: str = "address") -> str:
    """Return ``value`` as ``user`` may see it: in full, or masked as an email or a phone."""
    if contact_visible(user):
        return "" if value is None else str(value)
    masker = {
        "email": email_masked, "phone": phone_masked, "identifier": identifier_masked,
    }.get(kind, address_masked)  # fmt: skip
    return masker(value)
