"""A fake Tencent Cloud SMS endpoint (SendSms, 2021-01-11) for tests.

It checks a request as Tencent Cloud does: the X-TC-Action and X-TC-Version headers, the
SecretId, the timestamp within 5 minutes, the TC3-HMAC-SHA256 signature recomputed from the
Content-Type and Host headers and the body received; then the SmsSdkAppId, the approved
signature name and template (and its parameter count), the number (E.164 or an 11-digit
mainland mobile). It answers in Tencent's shapes: ``{"Response": {"SendStatusSet": [{"Code":
"Ok", "SerialNo": …}]}}`` per number, or ``{"Response": {"Error": {"Code", "Message"}}}`` for
the request. ``reports`` gives status callback reports for the accepted messages.
"""

import datetime
import hmac
import json
import re
import time
import uuid

from campaigns.channels.tencent_sms import canonical_request, string_to_sign, tc3_signature
from tools.fakes.base import TIMEOUT, FakeProvider

SECRET_ID = "AKID-test-id"  # noqa: S105 (the fake's own test key)
SECRET_KEY = "test-secret-key"  # noqa: S105
SDK_APP_ID = "1400006666"
SIGN_NAME = "测试商城"
TEMPLATES = {"1110": 1, "2220": 2}  # template id: number of parameters
MAX_AGE_SECONDS = 300
MOBILE = re.compile(r"^(\+86|0086|86)?1[3-9]\d{9}$")
AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>[\d-]+)/(?P<service>\w+)/tc3_request, "
    r"SignedHeaders=content-type;host, Signature=(?P<signature>[0-9a-f]{64})$"
)
# Request-wide errors come as Response.Error; the rest as the number's SendStatus.
REQUEST_ERRORS = ("AuthFailure", "RequestLimitExceeded", "InternalError", "UnauthorizedOperation")


class FakeTencentSms(FakeProvider):
    """Tencent Cloud SMS on 127.0.0.1; ``keys`` maps SecretIds to SecretKeys."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.keys = {SECRET_ID: SECRET_KEY}
        self.sign_names = {SIGN_NAME}
        self.templates = dict(TEMPLATES)

    def answer(self, path, headers, body):
        refused = self._check_request(headers, body)
        if refused is not None:
            self.refuse("", refused[0])
            return 200, _error(*refused)
        request = json.loads(body)
        phone = (request.get("PhoneNumberSet") or [""])[0]
        scripted = self.scripted(phone)
        if scripted == TIMEOUT:
            return 504, _error("InternalError.Timeout", "the gateway timed out")
        if isinstance(scripted, int):
            return scripted, {"message": "service unavailable"}
        if scripted and scripted.startswith(REQUEST_ERRORS):
            self.refuse(phone, scripted)
            return 200, _error(scripted, "scripted")
        code, message = (scripted, "scripted") if scripted else self._check_message(request)
        status = {"PhoneNumber": phone, "Code": code, "Message": message, "IsoCode": "CN"}
        status["SessionContext"] = request.get("SessionContext", "")
        if code != "Ok":
            self.refuse(phone, code)
            return 200, {"Response": {"SendStatusSet": [status], "RequestId": _request_id()}}
        serial = f"2645:{uuid.uuid4().int % 10**28:028d}"
        self.accept(
            {
                "phone": phone,
                "sign_name": request["SignName"],
                "template": request["TemplateId"],
                "params": request.get("TemplateParamSet") or [],
                "serial": serial,
                "session": request.get("SessionContext", ""),
                "at": datetime.datetime.now(datetime.UTC),
            }
        )
        status.update(SerialNo=serial, Fee=1)
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": _request_id()}}

    def _check_request(self, headers, body: bytes) -> tuple[str, str] | None:
        """Return (code, message) of a request Tencent Cloud refuses as a whole."""
        if headers.get("X-TC-Action") != "SendSms" or headers.get("X-TC-Version") != "2021-01-11":
            return "InvalidAction", "unknown action or version"
        found = AUTHORIZATION.match(headers.get("Authorization") or "")
        if found is None:
            return "AuthFailure.InvalidAuthorization", "Authorization is not TC3-HMAC-SHA256."
        secret = self.keys.get(found["id"])
        if secret is None:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found."
        try:
            timestamp = int(headers.get("X-TC-Timestamp") or "")
        except ValueError:
            return "MissingParameter", "X-TC-Timestamp is missing."
        if abs(time.time() - timestamp) > MAX_AGE_SECONDS:
            return "AuthFailure.SignatureExpire", "The signature expired."
        canonical = canonical_request(
            host=headers.get("Host", ""), payload=body, content_type=headers.get("Content-Type", "")
        )
        to_sign = string_to_sign(canonical=canonical, timestamp=timestamp, service="sms")
        expected = tc3_signature(
            secret_key=secret, date=found["date"], service=found["service"], to_sign=to_sign
        )
        if found["service"] != "sms" or not hmac.compare_digest(expected, found["signature"]):
            return "AuthFailure.SignatureFailure", "The signature does not match."
        try:
            json.loads(body)
        except ValueError:
            return "FailedOperation.FailResolvePacket", "The body is not JSON."
        return None

    def _check_message(self, request: dict) -> tuple[str, str]:
        if request.get("SmsSdkAppId") != SDK_APP_ID:
            return "InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist."
        if not MOBILE.match((request.get("PhoneNumberSet") or [""])[0]):
            return "InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number"
        if request.get("SignName") not in self.sign_names:
            return "FailedOperation.SignatureIncorrectOrUnapproved", "signature unapproved"
        count = self.templates.get(request.get("TemplateId"))
        if count is None or len(request.get("TemplateParamSet") or []) != count:
            return "FailedOperation.TemplateIncorrectOrUnapproved", "template unapproved"
        return "Ok", "send success"

    def reports(self, *, success: bool = True, sent=None) -> list[dict]:
        """Return status callback reports for ``sent`` (default all accepted messages)."""
        beijing = datetime.timezone(datetime.timedelta(hours=8))
        now = datetime.datetime.now(beijing).strftime("%Y-%m-%d %H:%M:%S")
        return [
            {
                "user_receive_time": now,
                "nationcode": "86",
                "mobile": message["phone"].removeprefix("+86"),
                "report_status": "SUCCESS" if success else "FAIL",
                "errmsg": "DELIVRD" if success else "MK:0001",
                "description": "用户短信送达成功" if success else "失败",
                "sid": message["serial"],
            }
            for message in (self.sent if sent is None else sent)
        ]


def _error(code: str, message: str) -> dict:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": _request_id()}}


def _request_id() -> str:
    return str(uuid.uuid4())
