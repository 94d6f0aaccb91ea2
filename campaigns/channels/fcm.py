"""Firebase Cloud Messaging, HTTP v1 API: a push backend for devices with an FCM token.

Authentication is OAuth 2.0 with a service account: a JWT signed with the account's RSA key
(RS256) is exchanged at the account's ``token_uri`` for an access token, kept in Django's cache
(shared by every worker) until shortly before it expires. Each message is one
``POST /v1/projects/{project_id}/messages:send``. The FCM error codes decide the outcome:
UNREGISTERED, or INVALID_ARGUMENT / SENDER_ID_MISMATCH about the token, remove the token;
QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL and any 5xx are retried; a 401 drops the cached access
token and tries once more with a new one; anything else fails the message for good.

Settings: FCM_SERVICE_ACCOUNT_FILE (the service account's JSON key file), FCM_API_URL,
PUSH_TIMEOUT.
"""

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

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
from core.errors import coded

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # the longest a Google OAuth assertion may live
EXPIRY_MARGIN = 60  # a cached access token is dropped this many seconds before it expires
RETRIED = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})
TOKEN_ERRORS = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
ACCOUNT_FIELDS = ("project_id", "private_key", "client_email", "token_uri")

ERROR_ACCOUNT_FILE = coded(
    "push.fcm_account",
    gettext_noop("FCM_SERVICE_ACCOUNT_FILE {path} is not a service account key: {reason}"),
)
ERROR_TOKEN_EXCHANGE = coded(
    "push.fcm_token",
    gettext_noop("Google refused the service account's access token request: {status} {answer}"),
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_load(path: str) -> dict:
    """Return the service account key in the JSON file at ``path``, with its key loaded."""
    setting_required(path, "FCM_SERVICE_ACCOUNT_FILE", "FCM")
    try:
        account = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [name for name in ACCOUNT_FIELDS if not account.get(name)]
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)}")
        account["key"] = serialization.load_pem_private_key(
            account["private_key"].encode(), password=None
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ImproperlyConfigured(ERROR_ACCOUNT_FILE.format(path=path, reason=exc)) from exc
    return account


def assertion_sign(account: dict, now: int) -> str:
    """Return the signed JWT (RS256) a service account exchanges for an access token."""
    header = {"alg": "RS256", "typ": "JWT", "kid": account.get("private_key_id", "")}
    claims = {
        "iss": account["client_email"],
        "scope": SCOPE,
        "aud": account["token_uri"],
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = account["key"].sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


class TokenExchangeFailed(Exception):
    """The token endpoint did not give an access token (the message is tried again later)."""


def access_token_exchange(account: dict, *, timeout: float) -> tuple[str, int]:
    """Exchange a signed assertion for (access token, seconds it lives) at ``token_uri``."""
    body = urllib.parse.urlencode(
        {"grant_type": GRANT_TYPE, "assertion": assertion_sign(account, int(time.time()))}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (the service account's https token URI)
        account["token_uri"],
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https)
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        failure = ERROR_TOKEN_EXCHANGE.format(status=exc.code, answer=detail)
        raise TokenExchangeFailed(failure) from exc
    if not isinstance(answer, dict) or not answer.get("access_token"):
        raise TokenExchangeFailed(ERROR_TOKEN_EXCHANGE.format(status=200, answer=answer))
    return answer["access_token"], int(answer.get("expires_in") or 3600)


class FcmBackend(PushBackend):
    """Send through FCM HTTP v1 with a service account's OAuth 2.0 access token."""

    provider = "fcm"

    def __init__(self):
        self.account: dict | None = None
        self.http: JsonHttp | None = None
        self.timeout = settings.PUSH_TIMEOUT

    @property
    def cache_key(self) -> str:
        return f"push:fcm:access-token:{self.account['client_email']}"

    def open(self) -> None:
        if self.http is not None:
            return
        self.account = service_account_load(settings.FCM_SERVICE_ACCOUNT_FILE)
        self.http = JsonHttp(settings.FCM_API_URL, timeout=self.timeout, setting="FCM_API_URL")

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def access_token(self) -> str:
        """Return the cached access token, or a new one (cached until shortly before expiry)."""
        token = cache.get(self.cache_key)
        if token:
            return token
        token, lifetime = access_token_exchange(self.account, timeout=self.timeout)
        cache.set(self.cache_key, token, timeout=max(lifetime - EXPIRY_MARGIN, 1))
        return token

    def send(self, message: PushMessage) -> Outcome:
        try:
            status, answer = self._post(message)
            if status == 401:  # the access token expired or was revoked: get a new one
                cache.delete(self.cache_key)
                status, answer = self._post(message)
        except TokenExchangeFailed as exc:
            return Outcome(str(exc))
        except Exception as exc:  # no answer: the message is tried again later
            return unreachable("FCM", exc)
        if 200 <= status < 300:
            name = answer.get("name", "") if isinstance(answer, dict) else ""
            return Outcome(provider_id=name)
        return self._refused(status, answer)

    def _post(self, message: PushMessage) -> tuple[int, object]:
        path = f"/v1/projects/{self.account['project_id']}/messages:send"
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        status, answer, _headers = self.http.post(path, {"message": fcm_message(message)}, headers)
        return status, answer

    def _refused(self, status: int, answer) -> Outcome:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        error = error if isinstance(error, dict) else {}
        code = fcm_error_code(error) or str(error.get("status") or status)
        if code in TOKEN_ERRORS or (code == "INVALID_ARGUMENT" and _about_token(error)):
            return TokenDead(provider="FCM", code=code)
        transient = code in RETRIED or status >= 500 or status in (408, 429)
        message = error.get("message") or answer
        return provider_error("FCM", status, code, message, permanent=not transient)


def fcm_message(message: PushMessage) -> dict:
    """Return the HTTP v1 ``message`` object of a push: a notification, the link as data."""
    data = {"reference": message.reference}
    body = {
        "token": message.token,
        "notification": {"title": message.title, "body": message.body},
        "data": data,
    }
    if message.link:
        data["link"] = message.link
        body["webpush"] = {"fcm_options": {"link": message.link}}
    return body


def fcm_error_code(error: dict) -> str:
    """Return the FcmError code in an error's details ("UNREGISTERED" …), or ""."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("fcm.v1.FcmError"):
            return str(detail.get("errorCode") or "")
    return ""


def _about_token(error: dict) -> bool:
    """Return whether an INVALID_ARGUMENT error is about the registration token, not the
    message: its field violations name only ``message.token``, or, with none, its text says
    so ("The registration token is not a valid FCM registration token")."""
    fields = [
        violation.get("field")
        for detail in error.get("details") or ()
        if isinstance(detail, dict)
        for violation in detail.get("fieldViolations") or ()
        if isinstance(violation, dict)
    ]
    if fields:
        return all(field == "message.token" for field in fields)
    return "registration token" in str(error.get("message", "")).lower()
