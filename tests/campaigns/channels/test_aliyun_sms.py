"""The Aliyun SMS backend: its signature against Aliyun's documented examples, and its sends
against a fake Aliyun endpoint that checks each request as Aliyun does."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from campaigns.channels.aliyun_sms import (
    ACCOUNT,
    BUSY,
    AliyunSmsBackend,
    aliyun_result,
    percent_encode,
    rpc_signature,
    string_to_sign,
)
from campaigns.channels.sms_template import ERROR_NO_TEMPLATE, sms_message
from campaigns.sms import SmsMessage
from core.errors import error_code, error_text
from tools.fakes.base import TIMEOUT

HELLO = SmsMessage(to="+8613800000001", text="你好 Ada", reference="send-1")
BYE = SmsMessage(to="+8613800000002", text="再见 Bob", reference="send-2")


def test_the_signature_matches_alibaba_clouds_documented_rpc_example():
    """Alibaba Cloud, "Request signatures" (RPC, signature version 1.0), the DescribeRegions
    example: https://www.alibabacloud.com/help/en/ecs/developer-reference/request-signatures
    (AccessKeyId testid, AccessKeySecret testsecret)."""
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }

    assert string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26"
    )
    assert rpc_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_the_signature_matches_the_sms_documents_sendsms_example():
    """Aliyun SMS, "签名机制" (https://help.aliyun.com/document_detail/56189.html): SendSms
    with a Chinese signature name and a JSON TemplateParam, key testId / testSecret."""
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }

    assert rpc_signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert rpc_signature("POST", params, "testSecret") != "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_percent_encoding_follows_rfc_3986_as_aliyun_signs():
    assert percent_encode("a b*c~d+e/") == "a%20b%2Ac~d%2Be%2F"
    assert percent_encode("签") == "%E7%AD%BE"


def test_a_message_goes_out_as_the_default_template_with_the_text_as_parameter(aliyun):
    with AliyunSmsBackend() as backend:
        results = backend.send_messages([HELLO, BYE])

    assert [r.ok for r in results] == [True, True]
    assert [r.provider_id for r in results] == [m["biz_id"] for m in aliyun.sent]
    first = aliyun.sent[0]
    assert (first["phone"], first["sign_name"], first["template"]) == (
        "+8613800000001",
        "测试商城",
        "SMS_100",
    )
    assert first["params"] == {"content": "你好 Ada"}
    assert first["out_id"] == "send-1"


def test_a_variants_template_code_and_parameters_are_what_goes_out(aliyun):
    message = sms_message(
        to="+8613800000003",
        reference="send-3",
        text="ignored by a template provider",
        fields={"template_code": "SMS_200", "params": {"name": "Ada", "code": "8391"}},
    )

    with AliyunSmsBackend() as backend:
        (result,) = backend.send_messages([message])

    assert result.ok
    assert aliyun.sent[0]["template"] == "SMS_200"
    assert aliyun.sent[0]["params"] == {"name": "Ada", "code": "8391"}


def test_without_any_template_nothing_is_sent_and_the_error_says_what_to_set(aliyun, settings):
    settings.SMS_TEMPLATE_CODE = ""

    with AliyunSmsBackend() as backend:
        (result,) = backend.send_messages([HELLO])

    assert (result.ok, result.permanent) == (False, True)
    assert result.error == str(ERROR_NO_TEMPLATE)
    assert aliyun.sent == [] and aliyun.refused == []


def test_refusals_fail_for_good_with_the_providers_code(aliyun):
    bad_number = SmsMessage(to="+86123", text="hi", reference="send-9")
    unknown_template = sms_message(
        to="+8613800000004", reference="send-4", text="", fields={"template_code": "SMS_999"}
    )
    missing_param = sms_message(
        to="+8613800000005",
        reference="send-5",
        text="",
        fields={"template_code": "SMS_200", "params": {"name": "Ada"}},
    )

    with AliyunSmsBackend() as backend:
        results = backend.send_messages([bad_number, unknown_template, missing_param])

    assert [(r.ok, r.permanent, r.bounce) for r in results] == [(False, True, False)] * 3
    assert [error_code(r.error) for r in results] == ["sms.refused"] * 3
    texts = [error_text(r.error, translate=False) for r in results]
    assert texts[0] == "The SMS provider refused it: isv.MOBILE_NUMBER_ILLEGAL 非法手机号"
    assert "isv.SMS_TEMPLATE_ILLEGAL" in texts[1]
    assert "isv.TEMPLATE_MISSING_PARAMETERS" in texts[2]
    assert [json.loads(r.error)["params"]["code"] for r in results] == [
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
    ]


def test_throttling_5xx_and_timeouts_are_tried_again_and_the_next_message_still_goes(aliyun):
    aliyun.script(HELLO.to, "isv.BUSINESS_LIMIT_CONTROL", 503, TIMEOUT)
    later = SmsMessage(to="+8613800000007", text="后来", reference="send-7")

    with AliyunSmsBackend() as backend:
        results = backend.send_messages([HELLO, HELLO, HELLO, later, HELLO])

    assert [(r.ok, r.permanent) for r in results] == [(False, False)] * 3 + [(True, False)] * 2
    assert "isv.BUSINESS_LIMIT_CONTROL" in error_text(results[0].error, translate=False)
    assert "ServiceUnavailable" in error_text(results[1].error, translate=False)
    assert "did not answer within 1 seconds" in results[2].error
    assert [m["out_id"] for m in aliyun.sent] == ["send-7", "send-1"]


def test_a_wrong_secret_is_refused_by_the_signature_check_and_waits_for_the_fix(aliyun):
    with AliyunSmsBackend(access_key_secret="not-the-secret") as backend:
        (result,) = backend.send_messages([HELLO])

    assert (result.ok, result.permanent) == (False, False)
    assert "SignatureDoesNotMatch" in error_text(result.error, translate=False)
    assert aliyun.sent == []
    assert aliyun.refused == [(HELLO.to, "SignatureDoesNotMatch")]


def test_missing_settings_are_named(settings):
    settings.SMS_ALIYUN_ACCESS_KEY_ID = ""
    settings.SMS_ALIYUN_SIGN_NAME = ""

    with pytest.raises(ImproperlyConfigured) as raised:
        AliyunSmsBackend().open()

    assert "SMS_ALIYUN_ACCESS_KEY_ID, SMS_ALIYUN_ACCESS_KEY_SECRET, SMS_ALIYUN_SIGN_NAME" in str(
        raised.value
    )


def test_a_bad_endpoint_is_named(aliyun, settings):
    settings.SMS_ALIYUN_ENDPOINT = "ftp://dysmsapi.aliyuncs.com/"

    with pytest.raises(ImproperlyConfigured, match="SMS_ALIYUN_ENDPOINT=ftp://"):
        AliyunSmsBackend().open()


@pytest.mark.parametrize(
    ("status", "body", "permanent"),
    [
        (200, {"Code": "isv.DAY_LIMIT_CONTROL", "Message": "触发日发送限额"}, False),
        (400, {"Code": "Throttling.User", "Message": "Request was denied"}, False),
        (200, {"Code": "isv.OUT_OF_SERVICE", "Message": "业务停机"}, False),
        (200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "签名不合法"}, True),
        (502, b"<html>Bad Gateway</html>", False),
        (400, b"not json", True),
    ],
)
def test_answers_map_to_retry_or_fail(status, body, permanent):
    answer = body if isinstance(body, bytes) else json.dumps(body).encode()

    result = aliyun_result(status, answer)

    assert (result.ok, result.permanent) == (False, permanent)


def test_the_transient_tables_do_not_overlap():
    assert not BUSY & ACCOUNT
