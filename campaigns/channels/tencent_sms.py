"""Tencent Cloud SMS (``SendSms``, API version 2021-01-11) as an SMS backend, without the SDK.

The official SDK (tencentcloud-sdk-python-sms + -common) is 1.5 MB installed on top of
requests; the call is a JSON POST signed with TC3-HMAC-SHA256, written here against the
documented API in a few lines, over one kept-alive connection per backend.

What an answer means for the ledger (``tencent_result``), per number's ``SendStatus.Code``:
  Ok                                       sent; ``SerialNo`` is the provider id
  LimitExceeded.*, InternalError.*         tried again later (rate limits, provider faults)
  FailedOperation.PhoneNumberInBlacklist   fails for good and the number is suppressed
  anything else (number, template, sign…)  fails for good, the provider's code in the error
A request-wide ``Error`` fails the message likewise; bad keys or an empty balance (AuthFailure.*,
UnauthorizedOperation.*, RequestLimitExceeded.*, the package's balance) wait until fixed.
"""

import datetime
import hashlib
import hmac
import json
import time
import urllib.parse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from campaigns.channels.aliyun_sms import ERROR_NOT_UNDERSTOOD, ERROR_REFUSED
from campaigns.channels.sms_template import TemplateMissing, ordered_values, sms_template
from campaigns.sms import RETRYABLE_CLIENT_STATUSES, HttpBackend, SmsMessage, SmsResult

SERVICE = "sms"
API_VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
JSON_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"

ERROR_NOT_CONFIGURED = _("Tencent Cloud SMS needs %(names)s: set them in the environment.")
ERROR_BAD_ENDPOINT = _("SMS_TENCENT_ENDPOINT=%(url)s is not an http:// or https:// address.")

BUSY_PREFIXES = ("LimitExceeded", "InternalError", "RequestLimitExceeded")
ACCOUNT_PREFIXES = ("AuthFailure", "UnauthorizedOperation")
ACCOUNT = {"FailedOperation.InsufficientBalanceInSmsPackage"}
BOUNCE = {"FailedOperation.PhoneNumberInBlacklist"}  # unsubscribed, or a carrier's blacklist


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_request(*, host: str, payload: bytes, content_type: str = JSON_TYPE) -> str:
    """Return the canonical request of a POST to "/" signing the content type and host."""
    headers = f"content-type:{content_type}\nhost:{host}\n"
    return f"POST\n/\n\n{headers}\n{SIGNED_HEADERS}\n{_sha256(payload)}"


def string_to_sign(*, canonical: str, timestamp: int, service: str) -> str:
    """Return the TC3 string to sign: algorithm, time, credential scope, hashed request."""
    date = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{_sha256(canonical.encode())}"


def tc3_signature(*, secret_key: str, date: str, service: str, to_sign: str) -> str:
    """Return the hex signature: the key derived through date, service and "tc3_request"."""
    key = _hmac(f"TC3{secret_key}".encode(), date)
    key = _hmac(_hmac(key, service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(
    *, secret_id: str, secret_key: str, service: str, host: str, payload: bytes, timestamp: int
) -> str:
    """Return the Authorization header of a signed JSON POST."""
    to_sign = string_to_sign(
        canonical=canonical_request(host=host, payload=payload),
        timestamp=timestamp,
        service=service,
    )
    date = to_sign.split("\n")[2].split("/")[0]
    signature = tc3_signature(secret_key=secret_key, date=date, service=service, to_sign=to_sign)
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


def tencent_result(status: int, answer: bytes) -> SmsResult:
    """Return what an answer to SendSms for one number means."""
    try:
        response = json.loads(answer)["Response"]
        error = response.get("Error")
        found = error if error else response["SendStatusSet"][0]
        code, text = str(found["Code"]), str(found.get("Message") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        body = answer[:300].decode(errors="replace")
        retry = status >= 500 or status in RETRYABLE_CLIENT_STATUSES
        return SmsResult(
            ok=False,
            permanent=not retry,
            error=ERROR_NOT_UNDERSTOOD.dumps(status=status, body=body),
        )
    if code == "Ok" and not error:
        return SmsResult(ok=True, permanent=False, provider_id=str(found.get("SerialNo") or ""))
    transient = (
        status >= 500 or code.startswith(BUSY_PREFIXES + ACCOUNT_PREFIXES) or code in ACCOUNT
    )
    return SmsResult(
        ok=False,
        permanent=not transient,
        bounce=code in BOUNCE,
        error=ERROR_REFUSED.dumps(code=code, message=text),
    )


class TencentSmsBackend(HttpBackend):
    """Send each message with SendSms on Tencent Cloud SMS (settings ``SMS_TENCENT_*``)."""

    def __init__(
        self,
        *,
        secret_id: str | None = None,
        secret_key: str | None = None,
        sdk_app_id: str | None = None,
        sign_name: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        **kwargs,
    ):
        url = endpoint if endpoint is not None else settings.SMS_TENCENT_ENDPOINT
        super().__init__(url=url, key="", **kwargs)
        given = {
            "secret_id": (secret_id, settings.SMS_TENCENT_SECRET_ID),
            "secret_key": (secret_key, settings.SMS_TENCENT_SECRET_KEY),
            "sdk_app_id": (sdk_app_id, settings.SMS_TENCENT_SDK_APP_ID),
            "sign_name": (sign_name, settings.SMS_TENCENT_SIGN_NAME),
            "region": (region, settings.SMS_TENCENT_REGION),
        }
        for name, (value, default) in given.items():
            setattr(self, name, value if value is not None else default)
        self.host = urllib.parse.urlsplit(self.url).netloc

    def open(self) -> bool:
        missing = [
            name
            for name, value in (
                ("SMS_TENCENT_SECRET_ID", self.secret_id),
                ("SMS_TENCENT_SECRET_KEY", self.secret_key),
                ("SMS_TENCENT_SDK_APP_ID", self.sdk_app_id),
                ("SMS_TENCENT_SIGN_NAME", self.sign_name),
                ("SMS_TENCENT_ENDPOINT", self.url),
            )
            if not value
        ]
        if missing:
            raise ImproperlyConfigured(str(ERROR_NOT_CONFIGURED % {"names": ", ".join(missing)}))
        if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
            raise ImproperlyConfigured(str(ERROR_BAD_ENDPOINT % {"url": self.url}))
        return super().open()

    def _send(self, message: SmsMessage) -> SmsResult:
        try:
            template = sms_template(message)
        except TemplateMissing as exc:
            return SmsResult(ok=False, permanent=True, error=str(exc))
        payload = json.dumps(
            {
                "PhoneNumberSet": [message.to],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": template.code,
                "TemplateParamSet": ordered_values(template.params),
                "SessionContext": message.reference,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self.secret_id,
                secret_key=self.secret_key,
                service=SERVICE,
                host=self.host,
                payload=payload,
                timestamp=timestamp,
            ),
            "Content-Type": JSON_TYPE,
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": API_VERSION,
            "X-TC-Region": self.region,
        }
        answered = self._request(payload, headers)
        if isinstance(answered, SmsResult):
            return answered
        return tencent_result(*answered)
