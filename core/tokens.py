"""API tokens: made with a random key shown once, kept as a SHA-256 digest, valid until they expire.

Clients still send ``Authorization: Token <key>``; ``HashedTokenAuthentication`` looks the key's
digest up, so the database never holds a usable key. A key is 160 random bits: one fast digest
is enough (nobody can try keys offline against it).
"""

import datetime
import hashlib
import secrets

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

ERROR_TOKEN_INVALID = _("Invalid token.")
ERROR_TOKEN_EXPIRED = _("This token has expired: ask for a new one.")
_USED_EVERY = datetime.timedelta(hours=1)  # how stale the stored last use may get


def token_digest(key: str) -> str:
    """Return the digest a key is stored as."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(
    *, user, name: str = "", days: int | None = None, expires_at: datetime.datetime | None = None
):
    """Make a token for ``user`` valid until ``expires_at``, or for ``days`` (API_TOKEN_DAYS);
    return (token, its key).

    The key is in no other place: show it now, it cannot be read back.
    """
    from core.models import ApiToken

    key = secrets.token_hex(20)
    now = timezone.now()
    if expires_at is None:
        expires_at = now + datetime.timedelta(days=days or settings.API_TOKEN_DAYS)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:8],
        digest=token_digest(key),
        created_at=now,
        expires_at=expires_at,
    )
    return token, key


def api_token_revoke(*, user, pk: int) -> bool:
    """Delete the user's token ``pk`` (it stops working at once); return whether it existed."""
    from core.models import ApiToken

    deleted, _rows = ApiToken.objects.filter(user=user, pk=pk).delete()
    return bool(deleted)


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's ``Token <key>`` scheme over digests, refusing expired tokens and inactive users."""

    def authenticate_credentials(self, key):
        from core.models import ApiToken

        token = ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(ERROR_TOKEN_INVALID)
        now = timezone.now()
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(ERROR_TOKEN_EXPIRED)
        if token.last_used_at is None or now - token.last_used_at > _USED_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
