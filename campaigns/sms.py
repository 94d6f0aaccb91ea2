"""SMS backends in the style of Django's email backends: console, file, HTTP provider, memory.

A backend is opened once for a send, sends each message and answers one ``SmsResult`` per
message, in order; it never raises for a message the provider refused or could not take, so a
caller can record every outcome. ``permanent`` tells a refusal that will not change on a retry
(an invalid number, a 4xx answer) from a transient failure (a timeout, a 5xx answer).

    with get_sms_backend() as backend:
        results = backend.send_messages(messages)
"""

import http.client
import json
import sys
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

ERROR_NO_PROVIDER_URL = _("SMS_PROVIDER_URL is empty: set it to the provider's send endpoint.")
ERROR_BAD_PROVIDER_URL = _("SMS_PROVIDER_URL=%(url)s is not an http:// or https:// address.")
ERROR_TIMEOUT = _("The SMS provider did not answer within %(seconds)s seconds.")
ERROR_UNREACHABLE = _("The SMS provider could not be reached: %(error)s")
ERROR_STATUS = _("The SMS provider answered HTTP %(status)s: %(body)s")

# Answers in the 4xx range that a later retry may turn into a success.
RETRYABLE_CLIENT_STATUSES = {408, 425, 429}


@dataclass(frozen=True)
class SmsMessage:
    """One text to one number; ``reference`` identifies it to us (e.g. the ledger row).

    Providers that send approved templates (Aliyun, Tencent Cloud) take ``template_code`` and
    ``params`` instead of the text when they are given (see ``campaigns.channels.sms_template``).
    """

    to: str
    text: str
    reference: str
    template_code: str = ""
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class SmsResult:
    """What became of one message: sent, or failed for good (``permanent``) or for now."""

    ok: bool
    permanent: bool
    error: str = ""
    provider_id: str = ""
    bounce: bool = False  # the number is dead or refuses messages: suppress it


class BaseSmsBackend:
    """Send SMS messages; subclasses implement ``send_messages`` and, if needed, open/close."""

    def __init__(self, *, fail_silently: bool = False, **kwargs):
        self.fail_silently = fail_silently

    def open(self) -> bool:
        """Open what sending needs (a connection, a file); return True if something was opened."""
        return False

    def close(self) -> None:
        """Close what ``open`` opened."""

    def __enter__(self):
        try:
            self.open()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        """Send the messages; return one result per message, in the same order."""
        raise NotImplementedError("subclasses of BaseSmsBackend must define send_messages()")


class ConsoleBackend(BaseSmsBackend):
    """Write each message to a stream (standard output by default), for development."""

    def __init__(self, *, stream=None, **kwargs):
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        with self._lock:
            for message in messages:
                self.stream.write(
                    f"SMS to {message.to} [{message.reference}]\n{message.text}\n{'-' * 40}\n"
                )
            self.stream.flush()
        return [SmsResult(ok=True, permanent=False) for _message in messages]


class FileBackend(BaseSmsBackend):
    """Append each message as one JSON line to ``SMS_FILE_PATH`` (or ``file_path``)."""

    def __init__(self, *, file_path: str | Path | None = None, **kwargs):
        super().__init__(**kwargs)
        self.file_path = Path(file_path or settings.SMS_FILE_PATH)
        self.stream = None
        self._lock = threading.RLock()

    def open(self) -> bool:
        if self.stream is not None:
            return False
        self.file_path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = open(self.file_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        return True

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        with self._lock:
            opened = self.open()
            try:
                now = timezone.now().isoformat()
                for message in messages:
                    line = {**asdict(message), "at": now}
                    self.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
                self.stream.flush()
            finally:
                if opened:
                    self.close()
        return [SmsResult(ok=True, permanent=False) for _message in messages]


class HttpBackend(BaseSmsBackend):
    """POST each message as JSON to the provider, the key as a bearer token, over one connection.

    The body is ``{"to", "text", "reference"}`` and the reference is also sent as the
    ``Idempotency-Key`` header. A 2xx answer is a success (``id`` or ``message_id`` in a JSON
    answer becomes the provider id); 408, 425 and 429 and any 5xx, a timeout or a network error
    are transient; any other 4xx is permanent.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        key: str | None = None,
        timeout: float | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.url = url if url is not None else settings.SMS_PROVIDER_URL
        self.key = key if key is not None else settings.SMS_PROVIDER_KEY
        self.timeout = timeout if timeout is not None else settings.SMS_PROVIDER_TIMEOUT
        self.connection: http.client.HTTPConnection | None = None
        self._used = False
        self._lock = threading.RLock()

    def _target(self) -> tuple[type[http.client.HTTPConnection], str, str]:
        if not self.url:
            raise ImproperlyConfigured(str(ERROR_NO_PROVIDER_URL))
        parts = urllib.parse.urlsplit(self.url)
        classes = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}
        if parts.scheme not in classes or not parts.netloc:
            raise ImproperlyConfigured(str(ERROR_BAD_PROVIDER_URL % {"url": self.url}))
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        return classes[parts.scheme], parts.netloc, path

    def open(self) -> bool:
        if self.connection is not None:
            return False
        connection_class, netloc, self._path = self._target()
        self.connection = connection_class(netloc, timeout=self.timeout)
        self._used = False
        return True

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        with self._lock:
            opened = self.open()
            try:
                return [self._send(message) for message in messages]
            finally:
                if opened:
                    self.close()

    def _send(self, message: SmsMessage) -> SmsResult:
        body = {"to": message.to, "text": message.text, "reference": message.reference}
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.key}",
            "Idempotency-Key": message.reference,
        }
        answered = self._request(json.dumps(body, ensure_ascii=False).encode(), headers)
        if isinstance(answered, SmsResult):
            return answered
        status, answer = answered
        if 200 <= status < 300:
            return SmsResult(ok=True, permanent=False, provider_id=_provider_id(answer))
        error = str(
            ERROR_STATUS % {"status": status, "body": answer[:500].decode(errors="replace")}
        )
        permanent = 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES
        return SmsResult(ok=False, permanent=permanent, error=error)

    def _request(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes] | SmsResult:
        """POST ``body``; return (status, answer), or the transient result of a timeout or a
        network error (the connection is then opened again for the next message)."""
        try:
            try:
                status, answer = self._post(body, headers)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not self._used:
                    raise
                # The provider closed an idle kept-alive connection: the request never reached
                # it, so send it once more on a fresh connection (with the same idempotency key).
                self._reconnect()
                status, answer = self._post(body, headers)
        except TimeoutError:
            self._reconnect()
            return SmsResult(
                ok=False, permanent=False, error=str(ERROR_TIMEOUT % {"seconds": self.timeout})
            )
        except (OSError, http.client.HTTPException) as exc:
            self._reconnect()
            return SmsResult(
                ok=False, permanent=False, error=str(ERROR_UNREACHABLE % {"error": exc})
            )
        self._used = True
        return status, answer

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.connection.request("POST", self._path, body=body, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        if response.will_close:
            self._reconnect()
        return response.status, answer

    def _reconnect(self) -> None:
        if self.connection is not None:
            self.connection.close()  # http.client connects again on the next request
        self._used = False


def _provider_id(answer: bytes) -> str:
    """Return the message id from a provider's JSON answer, or "" if it gave none."""
    try:
        data = json.loads(answer)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    return str(data.get("id") or data.get("message_id") or "")


# Messages "sent" through LocmemBackend, for tests (like django.core.mail.outbox).
outbox: list[SmsMessage] = []
# Numbers that LocmemBackend answers with this result instead of delivering, for tests.
failures: dict[str, SmsResult] = {}


class LocmemBackend(BaseSmsBackend):
    """Keep messages in ``campaigns.sms.outbox``; a number in ``failures`` gets that result."""

    _lock = threading.Lock()

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SmsResult]:
        results = []
        with self._lock:
            for message in messages:
                failure = failures.get(message.to)
                if failure is not None:
                    results.append(failure)
                    continue
                outbox.append(message)
                results.append(
                    SmsResult(ok=True, permanent=False, provider_id=f"locmem-{len(outbox)}")
                )
        return results


def get_sms_backend(path: str | None = None, **kwargs) -> BaseSmsBackend:
    """Return an instance of the SMS backend at ``path`` (default: the SMS_BACKEND setting)."""
    return import_string(path or settings.SMS_BACKEND)(**kwargs)
