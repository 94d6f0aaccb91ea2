"""SMS delivery receipts: Aliyun's and Tencent's callbacks mark ledger rows delivered or failed.

The bodies follow the providers' documented shapes: Aliyun SmsReport (HTTP batch push,
https://help.aliyun.com/document_detail/101867.html) and Tencent Cloud SMS's status callback
(https://cloud.tencent.com/document/api/382/5807).
"""

import json

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import Send, TrackingEvent
from campaigns.receipts import (
    ERROR_FORBIDDEN,
    ERROR_NOT_ARRAY,
    ERROR_NOT_CONFIGURED,
    aliyun_receipts_parse,
    tencent_receipts_parse,
)
from tests.campaigns.results_builders import campaign_started, ledger_add

TOKEN = "receipt-t0ken-0123456789"
NOW = "2026-03-01 10:00:00+08:00"  # China time, as the providers write their times
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def receipt_token(settings):
    settings.SMS_RECEIPT_TOKEN = TOKEN
    settings.SMS_RECEIPT_MAX_AGE_SECONDS = 3600
    settings.SMS_RECEIPT_RETRY_SECONDS = 600


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sent_sms():
    """Three sent SMS with the provider's ids and numbers."""
    campaign = campaign_started(slug="sms-sale", channel="sms")
    rows = ledger_add(campaign, 3, variant="A")
    for index, row in enumerate(rows):
        row.address = f"+861380000000{index}"
        row.message_id = f"biz-{index}"
        row.save(update_fields=["address", "message_id"])
    return rows


def aliyun(biz_id, phone, *, success=True, code="DELIVERED", at="2026-03-01 09:59:30", size="1"):
    return {
        "phone_number": phone, "send_time": "2026-03-01 09:59:00", "report_time": at,
        "success": success, "err_code": code, "err_msg": "用户接收成功" if success else "空号",
        "sms_size": size, "biz_id": biz_id, "out_id": "",
    }  # fmt: skip


def tencent(sid, phone, *, status="SUCCESS", code="DELIVRD", at="2026-03-01 09:59:30"):
    return {
        "user_receive_time": at, "nationcode": "86", "mobile": phone, "report_status": status,
        "errmsg": code, "description": "用户短信送达成功" if status == "SUCCESS" else "关机",
        "sid": sid,
    }  # fmt: skip


def post(client, provider, body, *, token=TOKEN, in_header=False):
    if in_header:
        url = reverse(f"campaigns:sms-receipts-{provider}")
        headers = {"HTTP_X_SMS_RECEIPT_TOKEN": token}
    else:
        url = reverse(f"campaigns:sms-receipts-{provider}", kwargs={"token": token})
        headers = {}
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    return client.post(url, data, content_type="application/json", **headers)


def deliveries():
    return list(
        Send.objects.order_by("pk").values_list(
            "delivery", "delivery_code", "delivery_error", "parts"
        )
    )


def test_an_aliyun_push_marks_each_row_delivered_or_failed_with_the_provider_code(client, sent_sms):
    body = [
        aliyun("biz-0", "13800000000", size="2"),
        aliyun("biz-1", "13800000001", success=False, code="MN:0001"),
    ]

    response = post(client, "aliyun", body)

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "接收成功", "recorded": 2, "repeated": 0}
    assert deliveries() == [
        ("delivered", "DELIVERED", "", 2),
        ("failed", "MN:0001", "空号", 1),
        ("", "", "", 0),
    ]
    delivered = Send.objects.get(pk=sent_sms[0].pk)
    assert delivered.delivery_at.isoformat() == "2026-03-01T01:59:30+00:00"
    assert list(TrackingEvent.objects.values_list("send_id", "kind")) == [
        (sent_sms[0].pk, "delivered")
    ]


def test_a_tencent_callback_marks_rows_by_serial_number_with_the_token_in_a_header(
    client, sent_sms
):
    body = [
        tencent("biz-0", "13800000000"),
        tencent("biz-2", "13800000002", status="FAIL", code="MK:0005"),
    ]

    response = post(client, "tencent", body, in_header=True)

    assert response.status_code == 200
    assert response.json()["result"] == 0
    assert [row[:2] for row in deliveries()] == [
        ("delivered", "DELIVRD"),
        ("", ""),
        ("failed", "MK:0005"),
    ]


def test_a_replayed_receipt_changes_nothing(client, sent_sms):
    body = [aliyun("biz-0", "13800000000")]
    post(client, "aliyun", body)
    before = deliveries()

    again = post(client, "aliyun", body)
    contrary = post(client, "aliyun", [aliyun("biz-0", "13800000000", success=False, code="X")])

    assert again.json()["repeated"] == 1
    assert contrary.json()["repeated"] == 1
    assert deliveries() == before
    assert TrackingEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("token", "in_header"), [("wrong-token", False), ("wrong-token", True), ("", True)]
)
def test_a_call_without_the_token_is_refused_and_changes_nothing(
    client, sent_sms, token, in_header
):
    response = post(client, "aliyun", [aliyun("biz-0", "13800000000")], token=token,
                    in_header=in_header)  # fmt: skip

    assert response.status_code == 403
    assert response.json()["msg"] == str(ERROR_FORBIDDEN)
    assert deliveries()[0] == ("", "", "", 0)


def test_receipts_are_refused_until_a_token_is_configured(client, settings, sent_sms):
    settings.SMS_RECEIPT_TOKEN = ""

    response = post(client, "tencent", [tencent("biz-0", "13800000000")], token="anything")

    assert response.status_code == 503
    assert response.json()["errmsg"] == str(ERROR_NOT_CONFIGURED)


@pytest.mark.parametrize("at", ["2026-03-01 08:59:59", "2026-03-01 10:06:00"])
def test_a_report_outside_the_window_refuses_the_whole_call(client, sent_sms, at):
    body = [aliyun("biz-1", "13800000001"), aliyun("biz-0", "13800000000", at=at)]

    response = post(client, "aliyun", body)

    assert response.status_code == 403
    assert "Report 1 was made at" in response.json()["msg"]
    assert [row[0] for row in deliveries()] == ["", "", ""]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not json", str(ERROR_NOT_ARRAY % {"max": 1000})),
        ('{"biz_id": "biz-0"}', str(ERROR_NOT_ARRAY % {"max": 1000})),
        ("[]", str(ERROR_NOT_ARRAY % {"max": 1000})),
        ('["biz-0"]', "Report 0 is not a JSON object."),
        ("[" * 5000 + "]" * 5000, str(ERROR_NOT_ARRAY % {"max": 1000})),
    ],
)
def test_a_body_that_is_not_an_array_of_reports_is_a_400(client, sent_sms, body, expected):
    response = post(client, "aliyun", body)

    assert response.status_code == 400
    assert response.json()["msg"] == expected


def test_one_malformed_report_refuses_the_call_and_names_the_report_and_field(client, sent_sms):
    bad_time = aliyun("biz-1", "13800000001", at="01/03/2026 09:59")
    body = [aliyun("biz-0", "13800000000"), bad_time]

    response = post(client, "aliyun", body)

    assert response.status_code == 400
    assert response.json()["msg"] == (
        "Report 1: “report_time” is “01/03/2026 09:59”, not a time as YYYY-MM-DD HH:MM:SS."
    )
    assert [row[0] for row in deliveries()] == ["", "", ""]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"success": "yes"}, "Report 0: “success” is missing or not true or false."),
        ({"biz_id": ""}, "Report 0: “biz_id” is missing or not text."),
        ({"phone_number": None}, "Report 0: “phone_number” is missing or not text."),
    ],
)
def test_aliyun_fields_are_checked(item, message):
    body = json.dumps([{**aliyun("biz-0", "13800000000"), **item}]).encode()

    with pytest.raises(Exception, match=message):
        aliyun_receipts_parse(body)


def test_tencent_report_status_must_be_success_or_fail():
    body = json.dumps([tencent("sid-1", "13800000000", status="MAYBE")]).encode()

    with pytest.raises(Exception, match="“report_status” is missing or not SUCCESS or FAIL"):
        tencent_receipts_parse(body)


def test_a_receipt_must_name_the_number_its_message_went_to(client, sent_sms):
    response = post(client, "aliyun", [aliyun("biz-0", "13999999999", at="2026-03-01 09:00:00")])

    assert response.status_code == 200
    assert response.json()["recorded"] == 0
    assert deliveries()[0] == ("", "", "", 0)


def test_a_young_receipt_for_a_message_not_recorded_yet_is_asked_again(client, sent_sms):
    """The worker records its sent rows in groups: the provider must push the report again."""
    Send.objects.filter(pk=sent_sms[0].pk).update(status=Send.Status.SENDING, message_id="")
    body = [aliyun("biz-1", "13800000001"), aliyun("biz-0", "13800000000")]

    first = post(client, "aliyun", body)
    Send.objects.filter(pk=sent_sms[0].pk).update(status=Send.Status.SENT, message_id="biz-0")
    second = post(client, "aliyun", body)

    assert first.status_code == 503
    assert first.json()["code"] == 1
    assert second.status_code == 200
    assert second.json() == {"code": 0, "msg": "接收成功", "recorded": 1, "repeated": 1}
    assert [row[0] for row in deliveries()] == ["delivered", "delivered", ""]


def test_an_old_receipt_for_no_known_message_is_acknowledged(client, sent_sms):
    response = post(client, "tencent", [tencent("nobody", "13800000000", at="2026-03-01 09:30:00")])

    assert response.status_code == 200
    assert response.json()["recorded"] == 0


def test_a_receipt_never_touches_an_email_row(client):
    campaign = campaign_started(slug="mail", channel="email")
    row = ledger_add(campaign, 1, variant="A")[0]
    Send.objects.filter(pk=row.pk).update(message_id="biz-0", address="+8613800000000")

    response = post(client, "aliyun", [aliyun("biz-0", "13800000000", at="2026-03-01 09:00:00")])

    assert response.json()["recorded"] == 0
    assert Send.objects.get(pk=row.pk).delivery == ""
