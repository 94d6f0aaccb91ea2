"""Access tokens of WeChat and WeCom accounts, kept in the cache that every worker shares.

Both platforms hand out a token (``GET /cgi-bin/token`` on WeChat, ``/cgi-bin/gettoken`` on
WeCom) valid ``expires_in`` seconds (7200), and getting a new one may make the previous one
stop working a few minutes later, so the workers must share one token rather than each fetch
its own. ``AccessTokens.get`` answers the cached token; from ``WEIXIN_TOKEN_MARGIN`` seconds
before it expires one worker (the one that takes the lock) fetches the next while the others
keep using the current one. With no token at all, the others wait for the one fetching it.
The lock is ``cache.add`` (atomic on Redis, Memcached, the database and memory), or ``flock``
on a file beside a files cache. A call answered 40001, 40014 or 42001 (the token is invalid
or expired) calls ``invalidate`` with the token it used, and asks again.
"""

import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.filebased import FileBasedCache
from django.utils.translation import gettext_noop

from core.errors import CodedError, coded

# Answers that mean "this token is not (or no longer) valid": fetch a new one and retry once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})

ERROR_TOKEN_REFUSED = coded(
    "weixin.token_refused",
    gettext_noop("{platform} refused an access token: {errcode} {errmsg}"),
)
ERROR_TOKEN_BUSY = coded(
    "weixin.token_busy",
    gettext_noop("{platform}'s access token is being fetched by another worker; try again."),
)

LOCK_SECONDS = 30  # longer than a token request may take (WEIXIN_TIMEOUT plus a connect)


class TokenError(CodedError):
    """No access token could be had (refused, unreachable or still being fetched)."""


@dataclass(frozen=True)
class Token:
    """A token and the times (seconds since the epoch) to refresh it and when it expires."""

    value: str
    refresh_at: float
    expires_at: float


class AccessTokens:
    """The shared access token of one account (``name``, e.g. ``wechat:<appid>``).

    ``fetch()`` asks the platform for a new token and returns ``(token, expires_in)``; it
    raises ``TokenError`` (or an ``OSError``) when it cannot.
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[], tuple[str, int]],
        *,
        platform: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.key = f"weixin:token:{name}"
        self.lock_key = f"weixin:token-lock:{name}"
        self.fetch, self.platform = fetch, platform
        self.clock, self.sleep = clock, sleep

    def get(self) -> str:
        """Return a valid token: the cached one, or a new one when none or it is due a refresh."""
        cached = cache.get(self.key)
        now = self.clock()
        if cached is not None and now < cached.refresh_at:
            return cached.value
        refreshed = self._refresh_if_free(cached)
        if refreshed is not None:
            return refreshed
        if cached is not None and now < cached.expires_at:
            return cached.value  # another worker is refreshing it: this one still works
        return self._wait()

    def invalidate(self, value: str) -> None:
        """Forget the cached token if it is still ``value`` (the platform refused it)."""
        cached = cache.get(self.key)
        if cached is not None and cached.value == value:
            cache.delete(self.key)

    def _refresh(self, seen: Token | None) -> str:
        cached = cache.get(self.key)
        if cached is not None and cached != seen and self.clock() < cached.refresh_at:
            return cached.value  # refreshed by another worker between our read and our lock
        value, expires_in = self.fetch()
        now = self.clock()
        margin = min(settings.WEIXIN_TOKEN_MARGIN, expires_in // 2)
        token = Token(value, refresh_at=now + expires_in - margin, expires_at=now + expires_in)
        cache.set(self.key, token, timeout=max(1, expires_in))
        return value

    def _refresh_if_free(self, seen: Token | None) -> str | None:
        """Fetch and cache a new token if no other worker is at it; return it, else None."""
        lock = token_lock(self.lock_key)
        if not lock.acquire():
            return None
        try:
            return self._refresh(seen)
        finally:
            lock.release()

    def _wait(self) -> str:
        """Wait for the worker holding the lock to cache a token; raise if it does not."""
        deadline = self.clock() + LOCK_SECONDS
        while self.clock() < deadline:
            self.sleep(0.05)
            cached = cache.get(self.key)
            if cached is not None and self.clock() < cached.expires_at:
                return cached.value
            refreshed = self._refresh_if_free(cached)  # it gave up: try ourselves
            if refreshed is not None:
                return refreshed
        raise TokenError(ERROR_TOKEN_BUSY, platform=self.platform)


class CacheLock:
    """A lock in the cache: ``add`` is atomic on Redis, Memcached, database and memory caches."""

    def __init__(self, key: str):
        self.key = key

    def acquire(self) -> bool:
        return cache.add(self.key, True, timeout=LOCK_SECONDS)

    def release(self) -> None:
        cache.delete(self.key)


class FileLock:
    """A lock beside a files cache (one machine), whose ``add`` is not atomic: ``flock``."""

    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def token_lock(key: str) -> CacheLock | FileLock:
    """Return the lock guarding the refresh of the token under ``key``, fit for the cache."""
    backend = caches["default"]
    if isinstance(backend, FileBasedCache):
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return FileLock(os.path.join(backend._dir, f"{name}.lock"))
    return CacheLock(key)
