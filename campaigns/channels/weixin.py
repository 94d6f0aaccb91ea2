"""What WeChat and WeCom transports share: JSON calls over one kept-alive HTTP connection, the
access token added to each call (renewed once when refused), and answers mapped to outcomes.

Both platforms answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok", …}`` or another errcode.
``ErrorTable`` says which codes are worth a retry (the platform is busy, over a rate) and which
mean the address is dead (the ledger then suppresses it); any other code fails the message for
good, its code in the error. A timeout, a lost connection or a 5xx answer is retried.
"""

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

from campaigns.channels.access_token import (
    ERROR_TOKEN_REFUSED,
    TOKEN_ERRCODES,
    AccessTokens,
    TokenError,
)
from campaigns.delivery.transports import Outcome
from core.errors import CodedError, coded

ERROR_REFUSED = coded("weixin.refused", gettext_noop("{platform} answered {errcode} {errmsg}"))
ERROR_UNREACHABLE = coded(
    "weixin.unreachable", gettext_noop("{platform} could not be reached: {error}")
)
ERROR_STATUS = coded("weixin.status", gettext_noop("{platform} answered HTTP {status}"))
ERROR_NOT_JSON = coded("weixin.not_json", gettext_noop("{platform} answered something not JSON"))
ERROR_BAD_URL = "{setting}={url!r} is not an http:// or https:// address."
ERROR_NO_CREDENTIALS = "{settings} must be set to send through {platform}."


class Unreachable(CodedError):
    """The call got no answer to read (timeout, lost connection, 5xx, not JSON): retry later."""


@dataclass(frozen=True)
class Answer:
    """A platform's JSON answer: its errcode (0: done), errmsg and the whole body."""

    errcode: int
    errmsg: str
    body: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorTable:
    """How a platform's errcodes map to outcomes: retried, suppressing the address, or failed."""

    retry: frozenset[int]
    bounce: frozenset[int] = frozenset()

    def outcome(self, answer: Answer, *, platform: str, provider_id: str = "") -> Outcome:
        """Return the outcome of a message the platform answered with ``answer``."""
        if answer.errcode == 0:
            return Outcome(provider_id=provider_id)
        error = ERROR_REFUSED.dumps(platform=platform, errcode=answer.errcode, errmsg=answer.errmsg)
        if answer.errcode in self.retry or answer.errcode in TOKEN_ERRCODES:
            return Outcome(error)  # a token refused twice in a row: the next attempt renews it
        return Outcome(error, permanent=True, bounce=answer.errcode in self.bounce)


class JsonApi:
    """Calls to one platform's base URL (``https://host[/prefix]``), one kept-alive connection."""

    def __init__(self, base_url: str, *, setting: str, platform: str, timeout: float):
        parts = urllib.parse.urlsplit(base_url)
        classes = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}
        if parts.scheme not in classes or not parts.netloc:
            raise ImproperlyConfigured(ERROR_BAD_URL.format(setting=setting, url=base_url))
        self.prefix = parts.path.rstrip("/")
        self.platform = platform
        self.connection = classes[parts.scheme](parts.netloc, timeout=timeout)
        self._used = False

    def close(self) -> None:
        self.connection.close()
        self._used = False

    def get(self, path: str, query: dict[str, str]) -> Answer:
        return self.call("GET", path, query)

    def post(self, path: str, query: dict[str, str], body: dict) -> Answer:
        return self.call("POST", path, query, body)

    def call(self, method: str, path: str, query: dict[str, str], body=None) -> Answer:
        """Return the answer of one call; raise ``Unreachable`` when there is none to read."""
        target = f"{self.prefix}{path}?{urllib.parse.urlencode(query)}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            try:
                status, raw = self._exchange(method, target, data, headers)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not self._used:
                    raise
                # An idle kept-alive connection was closed by the server before this request
                # reached it: send it once more on a new connection.
                self.close()
                status, raw = self._exchange(method, target, data, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unreachable(ERROR_UNREACHABLE, platform=self.platform, error=exc) from exc
        if status >= 300:
            raise Unreachable(ERROR_STATUS, platform=self.platform, status=status)
        try:
            parsed = json.loads(raw)
            return Answer(int(parsed.get("errcode", 0)), str(parsed.get("errmsg", "")), parsed)
        except (ValueError, TypeError, AttributeError):
            raise Unreachable(ERROR_NOT_JSON, platform=self.platform) from None

    def _exchange(self, method, target, data, headers) -> tuple[int, bytes]:
        self.connection.request(method, target, body=data, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        self._used = True
        if response.will_close:
            self.close()
        return response.status, raw


class TokenTransport:
    """A transport whose calls carry the account's access token (shared through the cache).

    Subclasses set ``platform``, ``errors`` and ``url_setting`` and define ``credentials()``
    (the token's cache name and fetch query) and ``send``.
    """

    platform = ""
    url_setting = ""
    token_path = ""
    errors: ErrorTable

    def __init__(self, *, clock: Callable[[], float] = time.time):
        self.api: JsonApi | None = None
        self.tokens: AccessTokens | None = None
        self.broken: Exception | None = None
        self.clock = clock

    def credentials(self) -> tuple[str, dict[str, str]]:
        """Return the token's cache name and the query that fetches a token."""
        raise NotImplementedError

    def open(self) -> None:
        """Connect and make sure there is a token, unless open (raise when there is none)."""
        if self.api is None:
            name, query = self.credentials()
            self.api = JsonApi(
                getattr(settings, self.url_setting),
                setting=self.url_setting,
                platform=self.platform,
                timeout=settings.WEIXIN_TIMEOUT,
            )
            self.tokens = AccessTokens(
                name, lambda: self._fetch(query), platform=self.platform, clock=self.clock
            )
        self.tokens.get()

    def close(self) -> None:
        api, self.api = self.api, None
        if api is not None:
            api.close()

    def _fetch(self, query: dict[str, str]) -> tuple[str, int]:
        answer = self.api.get(self.token_path, query)
        token = answer.body.get("access_token")
        if answer.errcode or not token:
            raise TokenError(
                ERROR_TOKEN_REFUSED,
                platform=self.platform,
                errcode=answer.errcode,
                errmsg=answer.errmsg,
            )
        return str(token), int(answer.body.get("expires_in") or 7200)

    def call(self, path: str, body: dict) -> Answer:
        """POST ``body`` with the token; a refused token is renewed and the call made again."""
        token = self.tokens.get()
        answer = self.api.post(path, {"access_token": token}, body)
        if answer.errcode in TOKEN_ERRCODES:
            self.tokens.invalidate(token)
            answer = self.api.post(path, {"access_token": self.tokens.get()}, body)
        return answer

    def attempt(self, path: str, body: dict, pace: Callable[[], None], *, id_field="") -> Outcome:
        """Pace, call, and return the outcome (never raising for this one message)."""
        pace()
        try:
            answer = self.call(path, body)
        except (Unreachable, TokenError) as exc:
            return Outcome(exc.dumps())
        provider_id = str(answer.body.get(id_field, "")) if id_field else ""
        return self.errors.outcome(answer, platform=self.platform, provider_id=provider_id)

    def send(self, messages: Sequence, pace: Callable[[], None]) -> list[Outcome]:
        raise NotImplementedError


def required(platform: str, **values: str) -> None:
    """Raise ImproperlyConfigured naming the settings among ``values`` that are empty."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ImproperlyConfigured(
            ERROR_NO_CREDENTIALS.format(settings=", ".join(missing), platform=platform)
        )
