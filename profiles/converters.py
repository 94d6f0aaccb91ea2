"""The external ID in a URL: as it is when it collides with nothing, else ``~`` + base64url.

An external ID comes from another system and may hold anything: ``/``, a word that is also a
route of the profiles pages (``consent``, ``tags``, ``import`` …), ``.`` or ``..`` (which
browsers fold away). Such an ID, and any that begins with ``~``, is written in URLs as ``~``
followed by its UTF-8 in unpadded base64url (``shop/42`` → ``~c2hvcC80Mg``), so every profile
can be opened, exported, erased and merged, and no ID reaches another page. The API's
``/api/v1/profiles/<external_id>/`` reads the same form.
"""

import base64
import binascii
import functools

PREFIX = "~"


@functools.cache
def _route_words() -> frozenset[str]:
    """Return every literal segment of the profiles pages' routes (``consent``, ``tags`` …)."""
    from profiles.urls import urlpatterns  # the routes use this module's converter

    return frozenset(
        segment
        for pattern in urlpatterns
        for segment in str(pattern.pattern).split("/")
        if segment and "<" not in segment
    )


def _plain(value: str) -> bool:
    """Return whether ``value`` can stand in a URL as it is."""
    return (
        bool(value)
        and "/" not in value
        and not value.startswith(PREFIX)
        and value not in (".", "..")
        and value not in _route_words()
    )


def external_id_to_url(value: str) -> str:
    """Return the URL form of an external ID (itself when it collides with nothing)."""
    if _plain(value):
        return value
    return PREFIX + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def external_id_from_url(value: str) -> str:
    """Return the external ID a URL segment names; raise ValueError for a malformed ``~`` form."""
    if not value.startswith(PREFIX):
        return value
    encoded = value[len(PREFIX) :]
    try:
        decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(value) from None
    if external_id_to_url(decoded) != value:  # one URL per ID: no second spelling
        raise ValueError(value)
    return decoded


class ExternalIdConverter:
    """The ``extid`` path converter: one segment, decoded and encoded as above."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return external_id_from_url(value)

    def to_url(self, value) -> str:
        return external_id_to_url(str(value))
