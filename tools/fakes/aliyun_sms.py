"""A fake Aliyun SMS endpoint (dysmsapi SendSms, 2017-05-25) for tests and benchmarks.

It takes the RPC request as Aliyun does (a form POST), checks it as Aliyun does: the AccessKeyId
is known, the timestamp is within 15 minutes, the nonce is new, the signature (version 1.0,
HMAC-SHA1, recomputed from the parameters received) matches, the signature name and template
are approved and the template's parameters all given, the number is a mainland mobile. It
answers in Aliyun's shapes: ``{"Code": "OK", "BizId": …}`` or ``{"Code": "isv.…", "Message"}``.
``reports`` gives SmsReport delivery reports (the HTTP batch push) for the accepted messages.

Run alone (for a benchmark in another process)::

    python -m tools.fakes.aliyun_sms --port 0    # prints the port, counts at GET /_count
"""

import argparse
import datetime
import json
import os
import re
import sys
import urllib.parse
import uuid
import zoneinfo

from tools.fakes.base import TIMEOUT, FakeProvider

ACCESS_KEY_ID = "LTAI-test-key"
ACCESS_KEY_SECRET = "test-secret"  # noqa: S105 (the fake's own test key)
SIGN_NAME = "测试商城"
TEMPLATES = {"SMS_100": ["content"], "SMS_200": ["name", "code"]}
MAX_AGE = datetime.timedelta(minutes=15)
MOBILE = re.compile(r"^(\+86|0086|86)?1[3-9]\d{9}$")
REQUIRED = (
    "AccessKeyId", "Action", "Format", "PhoneNumbers", "SignName", "SignatureMethod",
    "SignatureNonce", "SignatureVersion", "Signature", "TemplateCode", "Timestamp", "Version",
)  # fmt: skip
BEIJING = zoneinfo.ZoneInfo("Asia/Shanghai")


def rpc_signature(method: str, params: dict[str, str], secret: str) -> str:
    """Return the signature as Aliyun computes it: the product's function, pinned to Aliyun's
    documented examples (imported here: run alone, this module sets Django's settings first)."""
    from campaigns.channels.aliyun_sms import rpc_signature as signature

    return signature(method, params, secret)


class FakeAliyunSms(FakeProvider):
    """Aliyun SMS on 127.0.0.1; ``keys`` maps AccessKeyIds to secrets."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.keys = {ACCESS_KEY_ID: ACCESS_KEY_SECRET}
        self.sign_names = {SIGN_NAME}
        self.templates = dict(TEMPLATES)
        self._nonces: set[str] = set()

    def answer(self, path, headers, body):
        params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        refused = self._check_request(params)
        if refused is not None:
            status, code, message = refused
            self.refuse(params.get("PhoneNumbers", ""), code)
            return status, self._error(code, message)
        phone = params["PhoneNumbers"]
        scripted = self.scripted(phone)
        if scripted == TIMEOUT:
            return 504, self._error("ServiceTimeout", "the gateway timed out")
        if isinstance(scripted, int):
            return scripted, self._error("ServiceUnavailable", "the service is unavailable")
        code, message = (scripted, "scripted") if scripted else self._check_message(params)
        if code != "OK":
            self.refuse(phone, code)
            return 200, self._error(code, message)
        biz_id = f"{uuid.uuid4().int % 10**18:018d}^0"
        self.accept(
            {
                "phone": phone,
                "sign_name": params["SignName"],
                "template": params["TemplateCode"],
                "params": json.loads(params.get("TemplateParam") or "{}"),
                "biz_id": biz_id,
                "out_id": params.get("OutId", ""),
                "at": datetime.datetime.now(BEIJING),
            }
        )
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": _request_id()}

    def _check_request(self, params: dict) -> tuple[int, str, str] | None:
        """Return (status, code, message) of a request Aliyun refuses before reading it."""
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return 400, "MissingParameter", f"missing {', '.join(missing)}"
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return 400, "InvalidAction.NotFound", "unknown action or version"
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        try:
            stamp = datetime.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return 400, "InvalidTimeStamp.Format", "Specified time stamp is not valid."
        age = datetime.datetime.now(datetime.UTC) - stamp.replace(tzinfo=datetime.UTC)
        if abs(age) > MAX_AGE:
            return 400, "InvalidTimeStamp.Expired", "Specified time stamp or date is expired."
        if rpc_signature("POST", params, secret) != params["Signature"]:
            return 400, "SignatureDoesNotMatch", "Specified signature does not match."
        with self._lock:  # after the signature: a forged request cannot burn a nonce
            if params["SignatureNonce"] in self._nonces:
                return 400, "SignatureNonceUsed", "Specified signature nonce was used already."
            self._nonces.add(params["SignatureNonce"])
        return None

    def _check_message(self, params: dict) -> tuple[str, str]:
        """Return ("OK", "OK") or the code and message Aliyun answers the message with."""
        if not MOBILE.match(params["PhoneNumbers"]):
            return "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"
        if params["SignName"] not in self.sign_names:
            return "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名"
        names = self.templates.get(params["TemplateCode"])
        if names is None:
            return "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"
        try:
            given = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return "isv.INVALID_JSON_PARAM", "JSON参数不合法"
        if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
            return "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"
        if set(names) - set(given):
            return "isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量"
        return "OK", "OK"

    @staticmethod
    def _error(code: str, message: str) -> dict:
        return {"Code": code, "Message": message, "RequestId": _request_id()}

    def reports(self, *, success: bool = True, code: str = "DELIVERED", sent=None) -> list[dict]:
        """Return SmsReport delivery reports (the HTTP batch push) for ``sent`` (default all)."""
        now = datetime.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        return [
            {
                "phone_number": message["phone"],
                "send_time": message["at"].strftime("%Y-%m-%d %H:%M:%S"),
                "report_time": now,
                "success": success,
                "err_code": code,
                "err_msg": "用户接收成功" if success else "失败",
                "sms_size": "1",
                "biz_id": message["biz_id"],
                "out_id": message["out_id"],
            }
            for message in (self.sent if sent is None else sent)
        ]


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    fake = FakeAliyunSms(keep=False).start(port)
    sys.stdout.write(f"{fake.port}\n")
    sys.stdout.flush()
    sys.stdin.read()  # serve until the parent closes stdin (or ends)
    fake.stop()


if __name__ == "__main__":
    main()
