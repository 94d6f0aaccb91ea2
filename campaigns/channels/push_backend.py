"""The provider-neutral side of app push: a message, what a push backend does, its outcomes.

A backend speaks one provider's API (``campaigns.channels.fcm``, ``campaigns.channels.jpush``)::

    backend = push_backend("fcm")
    backend.open()                       # check the settings, connect (raises if impossible)
    outcome = backend.send(message)      # never raises for a message
    backend.close()

``send`` answers an ``Outcome`` (``campaigns.delivery.transports``): sent with the provider's
message id, a transient failure (retried by the ledger), a permanent one, or ``TokenDead``: the
provider no longer knows the device, and the push transport forgets its token. ``JsonHttp`` is
the kept-alive JSON connection the backends post on. ``PushTransport`` is the channel's
transport: it hands each message to its provider's backend and forgets dead tokens.
"""

import http.client
import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_noop

from campaigns.delivery.transports import Outcome, not_sent
from core.errors import coded
from profiles.models import DEVICE_TOKEN_MAX_LENGTH, PushProvider
from profiles.services.devices import device_forget

# The backend of each provider a Device may name (profiles.PushProvider).
BACKENDS = {
    "fcm": "campaigns.channels.fcm.FcmBackend",
    "jpush": "campaigns.channels.jpush.JPushBackend",
}

ERROR_PROVIDER = coded(
    "push.provider", gettext_noop("{provider} answered HTTP {status}: {code} {message}")
)
ERROR_UNREACHABLE = coded(
    "push.unreachable", gettext_noop("{provider} could not be reached: {error}")
)
ERROR_TOKEN_DEAD = coded(
    "push.token_dead",
    gettext_noop("{provider} no longer knows this device ({code}); its token was removed"),
)
ERROR_NO_BACKEND = coded(
    "push.no_backend", gettext_noop("No push backend is known for the provider {provider!r}")
)
ERROR_SETTING = coded(
    "push.setting", gettext_noop("{setting} is not set: push through {provider} needs it")
)
ERROR_BAD_URL = coded(
    "push.bad_url", gettext_noop("{setting}={url} is not an http:// or https:// address")
)


@dataclass(frozen=True)
class PushMessage:
    """One notification to one device; ``reference`` identifies it to us (the send row)."""

    provider: str
    token: str
    title: str
    body: str
    link: str = ""
    reference: str = ""


class TokenDead(Outcome):
    """A permanent failure because the provider no longer knows the device token."""

    __slots__ = ()

    def __init__(self, *, provider: str, code: str):
        super().__init__(ERROR_TOKEN_DEAD.dumps(provider=provider, code=code), permanent=True)


def provider_error(provider: str, status: int, code, message: str, *, permanent: bool) -> Outcome:
    """Return the outcome of an answer refusing a message, with the provider's code in it."""
    error = ERROR_PROVIDER.dumps(
        provider=provider, status=status, code=code, message=str(message)[:300]
    )
    return Outcome(error, permanent=permanent)


def unreachable(provider: str, exc: Exception) -> Outcome:
    """Return the outcome of a message the provider never answered (tried again later)."""
    return Outcome(ERROR_UNREACHABLE.dumps(provider=provider, error=f"{type(exc).__name__}: {exc}"))


class PushBackend:
    """One provider's push API; subclasses implement ``open`` and ``send``."""

    provider = ""

    def open(self) -> None:
        """Check the settings and prepare the connection; raise if sending is impossible."""

    def send(self, message: PushMessage) -> Outcome:
        """Send one message and answer its outcome; never raise for the message."""
        raise NotImplementedError("subclasses of PushBackend must define send()")

    def close(self) -> None:
        """Close what ``open`` opened."""


def push_backend(provider: str) -> PushBackend:
    """Return a new backend (not open yet) for ``provider``."""
    if provider not in BACKENDS:
        raise ImproperlyConfigured(ERROR_NO_BACKEND.format(provider=provider))
    return import_string(BACKENDS[provider])()


def setting_required(value: str, setting: str, provider: str) -> str:
    """Return the setting's value, or raise ``ImproperlyConfigured`` naming it when empty."""
    if not value:
        raise ImproperlyConfigured(ERROR_SETTING.format(setting=setting, provider=provider))
    return value


class JsonHttp:
    """POST JSON to one host over one kept-alive connection; answer (status, JSON, headers)."""

    def __init__(self, url: str, *, timeout: float, setting: str):
        parts = urllib.parse.urlsplit(url)
        classes = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}
        if parts.scheme not in classes or not parts.netloc:
            raise ImproperlyConfigured(ERROR_BAD_URL.format(setting=setting, url=url))
        self.prefix = parts.path.rstrip("/")
        self.connection = classes[parts.scheme](parts.netloc, timeout=timeout)
        self._used = False

    def post(self, path: str, data: dict, headers: dict[str, str]) -> tuple[int, object, dict]:
        """POST ``data`` to ``path``; raise ``OSError``/``HTTPException`` when no answer came."""
        body = json.dumps(data, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        try:
            return self._post(path, body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not self._used:
                raise
            # The server closed an idle kept-alive connection before reading the request:
            # it never arrived, so it is sent once more on a new connection.
            self.connection.close()
            return self._post(path, body, headers)
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self._used = False
            raise

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, object, dict]:
        self.connection.request("POST", self.prefix + path, body=body, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        self._used = not response.will_close
        if response.will_close:
            self.connection.close()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw[:300].decode(errors="replace")
        return response.status, answer, dict(response.getheaders())

    def close(self) -> None:
        self.connection.close()


PROVIDERS = frozenset(PushProvider.values)


def push_address(contact) -> str:
    """Return ``contact`` if it is a push address ``<provider>:<token>``, else ""."""
    text = str(contact or "").strip()
    provider, colon, token = text.partition(":")
    if not colon or provider not in PROVIDERS or not 0 < len(token) <= DEVICE_TOKEN_MAX_LENGTH:
        return ""
    return text


class PushTransport:
    """Push messages through each provider's backend, opened when its first message comes."""

    def __init__(self):
        self.backends: dict[str, PushBackend] = {}
        self.broken: Exception | None = None
        self.forgotten = 0  # device tokens removed because their provider no longer knows them

    def open(self) -> None:
        """Nothing to connect before the first message: each backend opens on first use."""

    def close(self) -> None:
        backends, self.backends = self.backends, {}
        for backend in backends.values():
            backend.close()

    def send(self, messages: Sequence[PushMessage], pace: Callable[[], None]) -> list[Outcome]:
        return [self._send(message, pace) for message in messages]

    def _backend(self, provider: str) -> PushBackend:
        backend = self.backends.get(provider)
        if backend is None:
            backend = push_backend(provider)
            backend.open()  # raises when the provider's settings are missing
            self.backends[provider] = backend
        return backend

    def _send(self, message: PushMessage, pace: Callable[[], None]) -> Outcome:
        try:
            backend = self._backend(message.provider)
        except Exception as exc:  # not configured: tried again later, once it is
            return not_sent(exc)
        pace()
        outcome = backend.send(message)
        if isinstance(outcome, TokenDead):
            self.forgotten += device_forget(provider=message.provider, token=message.token)
        return outcome
