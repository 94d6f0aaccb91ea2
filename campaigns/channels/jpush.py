"""JPush (极光推送) Push API v3: a push backend for devices with a JPush registration id.

Each message is one ``POST /v3/push`` with HTTP basic authentication (app key : master secret)
and the device's registration id as the audience. JPush answers 200 with ``msg_id``, or an
HTTP error with ``{"error": {"code", "message"}}``: 1011 (no push target matches) or 1003 about
the registration id remove the token; 2002 and 2003 (rate limits) and any 5xx are retried; any
other code fails the message for good.

Settings: JPUSH_APP_KEY, JPUSH_MASTER_SECRET, JPUSH_API_URL, JPUSH_APNS_PRODUCTION,
PUSH_TIMEOUT.
"""

import base64

from django.conf import settings

from campaigns.channels.push_backend import (
    JsonHttp,
    PushBackend,
    PushMessage,
    TokenDead,
    provider_error,
    setting_required,
    unreachable,
)
from campaigns.delivery.transports import Outcome

NO_TARGET = 1011  # no device matches the audience: the registration id is unknown
INVALID_PARAMETER = 1003
RETRIED = frozenset({2002, 2003})  # API calls over the app's rate limit
OFFLINE_SECONDS = 86400  # how long JPush keeps a message for a device that is offline


class JPushBackend(PushBackend):
    """Send through JPush's Push API v3, one registration id per request."""

    provider = "jpush"

    def __init__(self):
        self.http: JsonHttp | None = None
        self.authorization = ""

    def open(self) -> None:
        if self.http is not None:
            return
        key = setting_required(settings.JPUSH_APP_KEY, "JPUSH_APP_KEY", "JPush")
        secret = setting_required(settings.JPUSH_MASTER_SECRET, "JPUSH_MASTER_SECRET", "JPush")
        self.authorization = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        self.http = JsonHttp(
            settings.JPUSH_API_URL, timeout=settings.PUSH_TIMEOUT, setting="JPUSH_API_URL"
        )

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def send(self, message: PushMessage) -> Outcome:
        headers = {"Authorization": self.authorization}
        try:
            status, answer, _headers = self.http.post("/v3/push", jpush_payload(message), headers)
        except Exception as exc:  # no answer: the message is tried again later
            return unreachable("JPush", exc)
        if status == 200 and isinstance(answer, dict):
            return Outcome(provider_id=str(answer.get("msg_id") or ""))
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        code, text = error.get("code"), str(error.get("message") or answer or "")
        if code == NO_TARGET or (code == INVALID_PARAMETER and "registration" in text.lower()):
            return TokenDead(provider="JPush", code=str(code))
        transient = code in RETRIED or status >= 500 or status == 429
        return provider_error("JPush", status, code or status, text, permanent=not transient)


def jpush_payload(message: PushMessage) -> dict:
    """Return the push object of one notification to one registration id."""
    extras = {"reference": message.reference}
    if message.link:
        extras["link"] = message.link
    android = {"alert": message.body, "title": message.title, "extras": extras}
    if message.link:
        android["intent"] = {"url": message.link}
    return {
        "platform": "all",
        "audience": {"registration_id": [message.token]},
        "notification": {
            "alert": message.body,
            "android": android,
            "ios": {"alert": {"title": message.title, "body": message.body}, "extras": extras},
        },
        "options": {
            "time_to_live": OFFLINE_SECONDS,
            "apns_production": settings.JPUSH_APNS_PRODUCTION,
        },
    }
