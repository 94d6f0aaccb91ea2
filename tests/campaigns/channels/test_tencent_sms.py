"""The Tencent Cloud SMS backend: TC3-HMAC-SHA256 against Tencent's documented example, and its
sends against a fake Tencent Cloud endpoint that checks each request as Tencent does."""

import hashlib
import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from campaigns.channels.sms_template import ordered_values, sms_message
from campaigns.channels.tencent_sms import (
    TencentSmsBackend,
    canonical_request,
    string_to_sign,
    tc3_authorization,
    tencent_result,
)
from campaigns.sms import SmsMessage
from core.errors import error_text
from tools.fakes.base import TIMEOUT

HELLO = SmsMessage(to="+8613800000001", text="你好 Ada", reference="send-1")
# The documented request body, byte for byte (json.dumps's default separators and escapes).
DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


def test_the_signature_matches_tencent_clouds_documented_example():
    """Tencent Cloud API 3.0, "Signature v3" (the SMS product's copy:
    https://www.tencentcloud.com/document/product/382/40467): DescribeInstances on
    cvm.tencentcloudapi.com at 1551113065, SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE."""
    canonical = canonical_request(host="cvm.tencentcloudapi.com", payload=DOC_PAYLOAD)

    assert hashlib.sha256(DOC_PAYLOAD).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    assert string_to_sign(canonical=canonical, timestamp=1551113065, service="cvm") == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        payload=DOC_PAYLOAD,
        timestamp=1551113065,
    ) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def test_positional_parameters_go_by_number_else_in_the_given_order():
    assert ordered_values({"2": "b", "10": "c", "1": "a"}) == ["a", "b", "c"]
    assert ordered_values({"name": "Ada", "code": "8391"}) == ["Ada", "8391"]


def test_a_message_goes_out_with_the_apps_signature_and_template(tencent):
    coded = sms_message(
        to="+8613800000002",
        reference="send-2",
        text="",
        fields={"template_code": "2220", "params": {"1": "Ada", "2": "8391"}},
    )

    with TencentSmsBackend() as backend:
        results = backend.send_messages([HELLO, coded])

    assert [r.ok for r in results] == [True, True]
    assert [r.provider_id for r in results] == [m["serial"] for m in tencent.sent]
    assert [(m["template"], m["params"], m["session"]) for m in tencent.sent] == [
        ("1110", ["你好 Ada"], "send-1"),
        ("2220", ["Ada", "8391"], "send-2"),
    ]
    assert tencent.sent[0]["sign_name"] == "测试商城"


def test_a_blacklisted_number_fails_for_good_and_bounces(tencent):
    tencent.script(HELLO.to, "FailedOperation.PhoneNumberInBlacklist")

    with TencentSmsBackend() as backend:
        (result,) = backend.send_messages([HELLO])

    assert (result.ok, result.permanent, result.bounce) == (False, True, True)
    assert "FailedOperation.PhoneNumberInBlacklist" in error_text(result.error, translate=False)


def test_invalid_numbers_and_unapproved_templates_fail_for_good_without_bouncing(tencent):
    bad_number = SmsMessage(to="+86123", text="hi", reference="send-3")
    bad_template = sms_message(
        to="+8613800000004", reference="send-4", text="", fields={"template_code": "9999"}
    )

    with TencentSmsBackend() as backend:
        results = backend.send_messages([bad_number, bad_template])

    assert [(r.ok, r.permanent, r.bounce) for r in results] == [(False, True, False)] * 2
    texts = [error_text(r.error, translate=False) for r in results]
    assert "InvalidParameterValue.IncorrectPhoneNumber" in texts[0]
    assert "FailedOperation.TemplateIncorrectOrUnapproved" in texts[1]


def test_rate_limits_5xx_and_timeouts_are_tried_again(tencent):
    tencent.script(
        HELLO.to,
        "LimitExceeded.PhoneNumberDailyLimit",
        "RequestLimitExceeded",
        500,
        TIMEOUT,
    )

    with TencentSmsBackend() as backend:
        results = backend.send_messages([HELLO] * 5)

    assert [(r.ok, r.permanent) for r in results] == [(False, False)] * 4 + [(True, False)]
    assert "LimitExceeded.PhoneNumberDailyLimit" in error_text(results[0].error, translate=False)
    assert "RequestLimitExceeded" in error_text(results[1].error, translate=False)
    assert "did not answer" in results[3].error
    assert len(tencent.sent) == 1


def test_a_wrong_key_is_refused_by_the_signature_check_and_waits_for_the_fix(tencent):
    with TencentSmsBackend(secret_key="not-the-key") as backend:
        (result,) = backend.send_messages([HELLO])

    assert (result.ok, result.permanent) == (False, False)
    assert "AuthFailure.SignatureFailure" in error_text(result.error, translate=False)
    assert tencent.sent == []


def test_missing_settings_are_named(settings):
    settings.SMS_TENCENT_SDK_APP_ID = ""

    with pytest.raises(
        ImproperlyConfigured, match=r"SMS_TENCENT_SECRET_ID, .*SMS_TENCENT_SDK_APP_ID"
    ):
        TencentSmsBackend().open()


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [
        ({"Response": {"Error": {"Code": "InvalidParameter", "Message": "x"}}}, True),
        ({"Response": {"Error": {"Code": "AuthFailure.SecretIdNotFound", "Message": "x"}}}, False),
        ({"Response": {"SendStatusSet": []}}, True),
        ({"unexpected": True}, True),
    ],
)
def test_answers_map_to_retry_or_fail(answer, permanent):
    result = tencent_result(200, json.dumps(answer).encode())

    assert (result.ok, result.permanent) == (False, permanent)
