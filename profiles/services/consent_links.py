"""Signed links in messages: the preference page, one-click unsubscribe and double opt-in.

A token carries the profile, channel and purpose, signed with SECRET_KEY and stamped with the
time it was made; a tampered, expired or malformed token reads as None, and callers answer it the
same way whether or not the profile exists.

Each kind of link has its own salt, so one kind's token never opens another's page: the
unsubscribe token (in every message's headers, valid CONSENT_TOKEN_MAX_AGE_DAYS) can only
withdraw its own channel and purpose; the preference token (valid the shorter
CONSENT_PREFERENCES_MAX_AGE_DAYS) opens the preference page, where it grants only its own channel
and purpose and anything more waits for a double opt-in confirmation.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.encoding import force_bytes

_LINK_SALT = "profiles.consent.link"
_PREFERENCES_SALT = "profiles.consent.preferences"
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
    """Return the token of a profile's unsubscribe link (it withdraws, never grants)."""
    return _make(_LINK_SALT, profile_id=profile_id, channel=channel, purpose=purpose)


def consent_token_read(token: str) -> ConsentLink | None:
    """Return what an unsubscribe token says, or None if it is not valid now."""
    return _read(_LINK_SALT, token, settings.CONSENT_TOKEN_MAX_AGE_DAYS)


def preferences_token_make(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the token of a profile's preference page, sent for ``channel`` and ``purpose``."""
    return _make(_PREFERENCES_SALT, profile_id=profile_id, channel=channel, purpose=purpose)


def preferences_token_read(token: str) -> ConsentLink | None:
    """Return what a preference token says, or None if it is not valid now."""
    return _read(_PREFERENCES_SALT, token, settings.CONSENT_PREFERENCES_MAX_AGE_DAYS)


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
    token = preferences_token_make(profile_id=profile_id, channel=channel, purpose=purpose)
    return _absolute("consent_public:preferences", token)


def consent_unsubscribe_url(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the absolute RFC 8058 one-click unsubscribe URL (POST withdraws the consent)."""
    token = consent_token_make(profile_id=profile_id, channel=channel, purpose=purpose)
    return _absolute("consent_public:unsubscribe", token)


def opt_in_confirm_url(*, profile_id: int, channel: str, purpose: str = "marketing") -> str:
    """Return the absolute URL that confirms a double opt-in."""
    token = opt_in_token_make(profile_id=profile_id, channel=channel, purpose=purpose)
    return _absolute("consent_public:confirm", token)


class BatchSigner(signing.TimestampSigner):
    """A ``TimestampSigner`` for signing many values in a row, giving the same signatures.

    Django derives the HMAC key from the salt and SECRET_KEY again for each signature; this
    signer derives it once and copies the keyed HMAC for each value, and writes the timestamp
    once a second. Unsigning (any key, the fallbacks included) is Django's own.
    """

    def __init__(self, *, salt: str):
        super().__init__(salt=salt)
        hasher = getattr(hashlib, self.algorithm)
        key = hasher(force_bytes(self.salt + "signer") + force_bytes(self.key)).digest()
        self._mac = hmac.new(key, digestmod=hasher)
        self._second = -1
        self._stamp = ""

    def signature(self, value, key=None):
        if key is not None and key != self.key:
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()

    def timestamp(self):
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, signing.b62_encode(now)
        return self._stamp


class ConsentLinker:
    """Make both consent URLs of many profiles for one channel and purpose (e.g. a send batch).

    Each URL has its own token (the salts and payload of ``consent_token_make`` and
    ``preferences_token_make``, so their readers read them); the signers (``BatchSigner``) and
    the two URL prefixes are made once, and the tokens are not compressed (the payload is too
    small for zlib to shorten it, so ``signing.dumps(compress=True)`` would give the same string).
    """

    _SAMPLE = "SAMPLE-token_0:1.x"  # every kind of character a token holds

    def __init__(self, *, channel: str, purpose: str = "marketing"):
        self.channel = channel
        self.purpose = purpose
        self.signer = BatchSigner(salt=_LINK_SALT)
        self.preferences_signer = BatchSigner(salt=_PREFERENCES_SALT)
        self.unsubscribe = self._template("consent_public:unsubscribe")
        self.preferences = self._template("consent_public:preferences")

    def _template(self, name: str) -> tuple[str, str]:
        url = _absolute(name, self._SAMPLE)  # raises NoReverseMatch when the pages are not routed
        prefix, found, suffix = url.partition(self._SAMPLE)
        if not found:  # the route changes the token: fall back to reverse() per link
            return ("", name)
        return (prefix, suffix)

    def _url(self, template: tuple[str, str], token: str) -> str:
        prefix, rest = template
        if not prefix:
            return _absolute(rest, token)
        return f"{prefix}{token}{rest}"

    def token(self, profile_id: int) -> str:
        """Return the profile's unsubscribe token (readable by ``consent_token_read``)."""
        payload = {"p": profile_id, "c": self.channel, "u": self.purpose}
        return self.signer.sign_object(payload, compress=False)

    def preferences_token(self, profile_id: int) -> str:
        """Return the profile's preference token (readable by ``preferences_token_read``)."""
        payload = {"p": profile_id, "c": self.channel, "u": self.purpose}
        return self.preferences_signer.sign_object(payload, compress=False)

    def urls(self, profile_id: int) -> tuple[str, str]:
        """Return (unsubscribe URL, preference URL) of the profile, each with its own token."""
        return (
            self._url(self.unsubscribe, self.token(profile_id)),
            self._url(self.preferences, self.preferences_token(profile_id)),
        )
