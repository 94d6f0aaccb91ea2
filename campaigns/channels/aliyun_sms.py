"""Aliyun SMS (dysmsapi ``SendSms``, version 2017-05-25) as an SMS backend, without the SDK.

The official Python SDK (alibabacloud_dysmsapi20170525) installs 29 packages, 43 MB (aiohttp,
cryptography, APScheduler …); this is one signed HTTP call written against the documented API:
an RPC request POSTed as a form, signed with signature version 1.0 (HMAC-SHA1 of the canonical
query, key ``AccessKeySecret + "&"``), over one kept-alive connection per backend.

What the answer ``Code`` means for the ledger (``aliyun_result``):
  OK                                      sent; ``BizId`` is the provider id (receipts carry it)
  throttling, daily/monthly limits, isp.* the provider is busy or failing: tried again later
  credentials, account, balance           the operator must fix the account: tried again later
  anything else (number, template, sign…) fails for good, the provider's code in the error
An HTTP 5xx answer, a timeout or a network error is tried again later.
"""

import base64
import datetime
import hashlib
import hmac
import json
import urllib.parse
import uuid
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from campaigns.channels.sms_template import SmsTemplate, TemplateMissing, sms_template
from campaigns.sms import RETRYABLE_CLIENT_STATUSES, HttpBackend, SmsMessage, SmsResult
from core.errors import coded

API_VERSION = "2017-05-25"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

ERROR_NOT_CONFIGURED = _("Aliyun SMS needs %(names)s: set them in the environment.")
ERROR_BAD_ENDPOINT = _("SMS_ALIYUN_ENDPOINT=%(url)s is not an http:// or https:// address.")
ERROR_REFUSED = coded("sms.refused", gettext_noop("The SMS provider refused it: {code} {message}"))
ERROR_NOT_UNDERSTOOD = coded(
    "sms.unreadable", gettext_noop("The SMS provider answered HTTP {status} without a code: {body}")
)

# The provider cannot take the message now; the same request later may succeed.
BUSY = {
    "isv.BUSINESS_LIMIT_CONTROL",  # rate limit per number / per signature
    "isv.DAY_LIMIT_CONTROL",
    "isv.MONTH_LIMIT_CONTROL",
    "isp.SYSTEM_ERROR",
    "isp.GATEWAY_ERROR",
    "ServiceUnavailable",
    "InternalError",
    "SignatureNonceUsed",  # a new request has a new nonce
    "InvalidTimeStamp.Expired",  # the clock: fixed by syncing it, not by the message
}
# The account or the keys are wrong: not the message's fault, it waits until they are fixed.
ACCOUNT = {
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "isp.RAM_PERMISSION_DENY",
    "isv.ACCOUNT_NOT_EXISTS",
    "isv.ACCOUNT_ABNORMAL",
    "isv.OUT_OF_SERVICE",  # no balance left
    "isv.AMOUNT_NOT_ENOUGH",
    "isv.PRODUCT_UN_SUBSCRIPT",
    "isv.PRODUCT_UNSUBSCRIBE",
}
# Aliyun documents no SendSms answer for a number on a blacklist: such numbers fail in the
# delivery receipt. Invalid numbers (isv.MOBILE_NUMBER_ILLEGAL) fail for good, unsuppressed.


def percent_encode(value: str) -> str:
    """Return ``value`` encoded as Aliyun signs it: RFC 3986, only A-Z a-z 0-9 - _ . ~ kept."""
    return urllib.parse.quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Return the parameters but the signature, sorted and percent-encoded: name=value&…"""
    return "&".join(
        f"{percent_encode(name)}={percent_encode(params[name])}"
        for name in sorted(params)
        if name != "Signature"
    )


def string_to_sign(method: str, params: Mapping[str, str], query: str | None = None) -> str:
    """Return the RPC string to sign: method, "/" and the canonical query, percent-encoded."""
    query = canonical_query(params) if query is None else query
    return f"{method}&{percent_encode('/')}&{percent_encode(query)}"


def rpc_signature(
    method: str, params: Mapping[str, str], secret: str, query: str | None = None
) -> str:
    """Return the signature (version 1.0, HMAC-SHA1, base64) of an RPC request's parameters."""
    key = f"{secret}&".encode()
    digest = hmac.new(key, string_to_sign(method, params, query).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_body(params: Mapping[str, str], secret: str) -> bytes:
    """Return the form body of a signed POST: the canonical query (a valid form encoding
    already) and the signature."""
    query = canonical_query(params)
    signature = rpc_signature("POST", params, secret, query)
    return f"{query}&Signature={percent_encode(signature)}".encode()


def send_params(
    message: SmsMessage,
    template: SmsTemplate,
    *,
    access_key_id: str,
    sign_name: str,
    region: str,
    now: datetime.datetime,
    nonce: str,
) -> dict[str, str]:
    """Return the unsigned parameters of a SendSms request (the reference goes as ``OutId``)."""
    return {
        "AccessKeyId": access_key_id,
        "Action": "SendSms",
        "Format": "JSON",
        "OutId": message.reference,
        "PhoneNumbers": message.to,
        "RegionId": region,
        "SignName": sign_name,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce,
        "SignatureVersion": "1.0",
        "TemplateCode": template.code,
        "TemplateParam": json.dumps(template.params, ensure_ascii=False, separators=(",", ":")),
        "Timestamp": now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": API_VERSION,
    }


def aliyun_result(status: int, answer: bytes) -> SmsResult:
    """Return what an answer to SendSms means: sent, or failed for now or for good."""
    try:
        data = json.loads(answer)
    except ValueError:
        data = None
    code = str(data.get("Code") or "") if isinstance(data, dict) else ""
    if not code:
        body = answer[:300].decode(errors="replace")
        error = ERROR_NOT_UNDERSTOOD.dumps(status=status, body=body)
        return SmsResult(ok=False, permanent=not _retryable(status), error=error)
    if code == "OK" and status < 300:
        return SmsResult(ok=True, permanent=False, provider_id=str(data.get("BizId") or ""))
    error = ERROR_REFUSED.dumps(code=code, message=str(data.get("Message") or ""))
    transient = (
        _retryable(status) or code in BUSY or code in ACCOUNT or code.startswith("Throttling")
    )
    return SmsResult(ok=False, permanent=not transient, error=error)


class AliyunSmsBackend(HttpBackend):
    """Send each message with SendSms on Aliyun SMS (settings ``SMS_ALIYUN_*``)."""

    def __init__(
        self,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        sign_name: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        **kwargs,
    ):
        url = endpoint if endpoint is not None else settings.SMS_ALIYUN_ENDPOINT
        super().__init__(url=url, key="", **kwargs)
        self.access_key_id = _given(access_key_id, settings.SMS_ALIYUN_ACCESS_KEY_ID)
        self.access_key_secret = _given(access_key_secret, settings.SMS_ALIYUN_ACCESS_KEY_SECRET)
        self.sign_name = _given(sign_name, settings.SMS_ALIYUN_SIGN_NAME)
        self.region = _given(region, settings.SMS_ALIYUN_REGION)

    def open(self) -> bool:
        missing = [
            name
            for name, value in (
                ("SMS_ALIYUN_ACCESS_KEY_ID", self.access_key_id),
                ("SMS_ALIYUN_ACCESS_KEY_SECRET", self.access_key_secret),
                ("SMS_ALIYUN_SIGN_NAME", self.sign_name),
                ("SMS_ALIYUN_ENDPOINT", self.url),
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
        params = send_params(
            message,
            template,
            access_key_id=self.access_key_id,
            sign_name=self.sign_name,
            region=self.region,
            now=datetime.datetime.now(datetime.UTC),
            nonce=uuid.uuid4().hex,
        )
        body = signed_body(params, self.access_key_secret)
        answered = self._request(body, {"Content-Type": FORM, "Accept": "application/json"})
        if isinstance(answered, SmsResult):
            return answered
        return aliyun_result(*answered)


def _retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_CLIENT_STATUSES


def _given(value: str | None, default: str) -> str:
    return value if value is not None else default
