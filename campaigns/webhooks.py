"""Post signed JSON to a webhook endpoint and say what the answer means; log every attempt.

Every request carries the body's signature and a delivery id that is the same for every attempt
of one message, so a receiver checks the signature, refuses an old ``t`` and drops an id it has
already handled:

    X-Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>
    X-Webhook-Delivery: campaign:<send id>  |  flow:<enrollment id>:<step key>
    X-Webhook-Attempt: 1, 2, …

What an answer means (``answer_outcome``): 2xx sent; 408, 425, 429, 5xx, a timeout or no
connection are tried again later; 410 (the receiver is gone) and every other 4xx (or 3xx: a
redirect is not followed) fail for good with the code. A ``WebhookClient`` keeps one
connection to its endpoint open between messages (HTTP keep-alive) and opens a new one after
any failure.
"""

import http.client
import logging
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.models import WebhookDelivery, WebhookEndpoint
from core.errors import coded
from core.webhooks import timed_signature

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
READ_LIMIT = 64 * 1024  # what is read of an answer's body (the rest is left unread)
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "backoffice-webhooks/1"

ERROR_STATUS = coded("webhook.status", gettext_noop("The receiver answered HTTP {status}."))
ERROR_GONE = coded(
    "webhook.gone", gettext_noop("The receiver answered HTTP 410: it takes no more of these.")
)
ERROR_TIMEOUT = coded(
    "webhook.timeout", gettext_noop("The receiver did not answer within {seconds} seconds.")
)
ERROR_UNREACHABLE = coded(
    "webhook.unreachable", gettext_noop("The receiver could not be reached: {error}")
)
ERROR_DISABLED = coded(
    "webhook.disabled", gettext_noop("The webhook endpoint “{name}” is disabled.")
)


@dataclass(frozen=True)
class Answer:
    """What one POST got: the HTTP status (None: no answer), an error code text, the time it
    took and the start of the answer's body."""

    status: int | None
    error: str = ""
    duration_ms: int = 0
    excerpt: str = ""
    refused: bool = False  # not posted, for good (a disabled endpoint)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def permanent(self) -> bool:
        """Return whether trying again cannot help (a 3xx or 4xx other than 408/425/429, or not
        posted for good)."""
        if self.refused:
            return True
        if self.status is None or self.ok:
            return False
        return self.status < 500 and self.status not in RETRYABLE_CLIENT_STATUSES


def signed_headers(body: bytes, *, secret: str, delivery_id: str, attempt: int) -> dict:
    """Return the headers of a webhook request: JSON, the signature, the delivery id."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Signature": timed_signature(body, int(time.time()), secret),
        "X-Webhook-Delivery": delivery_id,
        "X-Webhook-Attempt": str(attempt),
    }


def _status_error(status: int) -> str:
    if 200 <= status < 300:
        return ""
    if status == 410:
        return ERROR_GONE.dumps()
    return ERROR_STATUS.dumps(status=status)


class WebhookClient:
    """Posts to one endpoint URL over one kept-alive connection."""

    def __init__(self, *, url: str, secret: str, timeout: float):
        parts = urllib.parse.urlsplit(url)
        self.secret = secret
        self.timeout = timeout
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.connection: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.connection = kind(self.host, self.port, timeout=self.timeout)
        return self.connection

    def post(
        self, body: bytes, *, delivery_id: str, attempt: int = 1, extra: Mapping | None = None
    ) -> Answer:
        """POST ``body``; never raise for what the receiver or the network did."""
        headers = signed_headers(body, secret=self.secret, delivery_id=delivery_id, attempt=attempt)
        for name, make in (extra or {}).items():
            headers[name] = make(headers) if callable(make) else make
        started = time.monotonic()
        try:
            connection = self._connection()
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(READ_LIMIT)
            if response.will_close or not response.isclosed():
                self.close()  # the server closes it, or an unread rest is left on it
        except TimeoutError:
            self.close()
            return self._answer(None, ERROR_TIMEOUT.dumps(seconds=self.timeout), started)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            error = ERROR_UNREACHABLE.dumps(error=f"{type(exc).__name__}: {exc}"[:300])
            return self._answer(None, error, started)
        excerpt = data.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        return self._answer(response.status, _status_error(response.status), started, excerpt)

    @staticmethod
    def _answer(status, error, started, excerpt="") -> Answer:
        duration = round((time.monotonic() - started) * 1000)
        return Answer(status=status, error=error, duration_ms=duration, excerpt=excerpt)

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()


def endpoint_client(endpoint: WebhookEndpoint, *, timeout: float | None = None) -> WebhookClient:
    """Return a client of ``endpoint`` (its own timeout unless ``timeout`` is given)."""
    return WebhookClient(
        url=endpoint.url, secret=endpoint.secret, timeout=timeout or endpoint.timeout_seconds
    )


def delivery_row(
    *,
    endpoint_id: int,
    answer: Answer,
    delivery_id: str,
    attempt: int,
    source: str,
    label: str = "",
    send_id: int | None = None,
) -> WebhookDelivery:
    """Return the (unsaved) log row of one attempt."""
    return WebhookDelivery(
        endpoint_id=endpoint_id,
        source=source,
        send_id=send_id,
        source_label=label[:200],
        delivery_id=delivery_id[:100],
        attempt=min(attempt, 32767),
        status_code=answer.status,
        duration_ms=answer.duration_ms,
        error=answer.error,
        response_excerpt=answer.excerpt,
        created_at=timezone.now(),
    )


def deliveries_log(rows: Iterable[WebhookDelivery]) -> None:
    """Write log rows; a failure to log is logged and never fails the delivery itself."""
    rows = list(rows)
    if not rows:
        return
    try:
        WebhookDelivery.objects.bulk_create(rows)
    except Exception:
        logger.exception("Could not write %s webhook delivery log rows", len(rows))


def campaign_delivery_id(send_id: int) -> str:
    """Return the delivery id of a campaign's ledger row (the same on every attempt)."""
    return f"campaign:{send_id}"
