"""Signed links in messages: the preference page, one-click unsubscribe and double opt-in.

A token carries the profile, channel and purpose, signed with SECRET_KEY and stamped with the
time it was made; a tampered, expired or malformed token reads as None, and callers answer it the
same way whether or not the profile exists.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_LINK_SALT = "profiles.consent.link"
_OPT_IN_SALT = "profiles.consent.opt-in"
_DAY = 24 * 3600


@dataclass(frozen=True)
class ConsentLink:
    """What a valid token says: whose consent, on which channel, for which purpose."""

    profile_id: int
    channel: str
    purpose: str


def _make(salt: str, *, profile_id: int, channel: str, purpose: str) -> str:
    return signing.dumps({"p": profile_id, "c": channel, "u": purpose}, salt=salt, compress=True)


def _read(salt: str, token: str, max_age_days: int) -> ConsentLink | None:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age_days * _DAY)
        return ConsentLink(
            profile_id=int(data["p"]), channel=str(data["c"]), purpose=str(data["u"])
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):  # expired is a BadSignature
        return None


def consent_token_make(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the token for a profile's preference page and unsubscribe link."""
    return _make(_LINK_SALT, profile_id=profile_id, channel=channel, purpose=purpose)


def consent_token_read(token: str) -> ConsentLink | None:
    """Return what a preference/unsubscribe token says, or None if it is not valid now."""
    return _read(_LINK_SALT, token, settings.CONSENT_TOKEN_MAX_AGE_DAYS)


def opt_in_token_make(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the token of a double opt-in confirmation link."""
    return _make(_OPT_IN_SALT, profile_id=profile_id, channel=channel, purpose=purpose)


def opt_in_token_read(token: str) -> ConsentLink | None:
    """Return what a double opt-in token says, or None if it is not valid now."""
    return _read(_OPT_IN_SALT, token, settings.CONSENT_OPT_IN_MAX_AGE_DAYS)


def _absolute(name: str, token: str) -> str:
    return settings.SITE_URL + reverse(name, args=[token])


def consent_preferences_url(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the absolute URL of the profile's preference page (no login needed)."""
    token = consent_token_make(profile_id=profile_id, channel=channel, purpose=purpose)
    return _absolute("consent_public:preferences", token)


def consent_unsubscribe_url(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the absolute RFC 8058 one-click unsubscribe URL (POST withdraws the consent)."""
    token = consent_token_make(profile_id=profile_id, channel=channel, purpose=purpose)
    return _absolute("consent_public:unsubscribe", token)


def opt_in_confirm_url(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the absolute URL that confirms a double opt-in."""
    token = opt_in_token_make(profile_id=profile_id, channel=channel, purpose=purpose)
    return _absolute("consent_public:confirm", token)
