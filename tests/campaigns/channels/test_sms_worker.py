"""An SMS campaign sent by a real Celery worker through the fake Aliyun SMS endpoint, and its
delivery receipts pushed back by the fake to the product's receipt endpoint.

Real parts: the database (PostgreSQL on CI), the broker (Redis on CI), a `celery worker` process
whose settings come from its environment (SMS_BACKEND and SMS_ALIYUN_* pointing at the fake),
the fake endpoint checking every request's signature, and the product served over HTTP
(pytest-django's live server) receiving the receipts. The test plays beat.
"""

import time
from collections import Counter

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Channel, Send
from tests.campaigns.conftest import tick_until
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tools.fakes import aliyun_sms

pytestmark = pytest.mark.worker


def test_a_worker_sends_an_sms_campaign_through_aliyun_once_per_profile(
    campaign_worker, live_server, settings
):
    settings.SMS_RECEIPT_TOKEN = "receipts-token"
    receipts_url = live_server.url + reverse(
        "campaigns:sms-receipts-aliyun", args=[settings.SMS_RECEIPT_TOKEN]
    )
    fake = aliyun_sms.FakeAliyunSms().start()
    try:
        profiles = profiles_make(12, channel=Channel.SMS)
        throttled = str(profiles[0].phone)
        fake.script(throttled, "isv.BUSINESS_LIMIT_CONTROL")  # the first try waits, then goes
        campaign = campaign_ready(
            include=[segment_with(profiles)], channel=Channel.SMS, send_at=timezone.now()
        )
        campaign_worker(
            1,  # no SMTP: this worker sends SMS only
            SMS_BACKEND="campaigns.channels.aliyun_sms.AliyunSmsBackend",
            SMS_ALIYUN_ENDPOINT=fake.url,
            SMS_ALIYUN_ACCESS_KEY_ID=aliyun_sms.ACCESS_KEY_ID,
            SMS_ALIYUN_ACCESS_KEY_SECRET=aliyun_sms.ACCESS_KEY_SECRET,
            SMS_ALIYUN_SIGN_NAME=aliyun_sms.SIGN_NAME,
            SMS_TEMPLATE_CODE="SMS_100",
            CAMPAIGN_FREQUENCY_CAP=0,
            CAMPAIGN_RETRY_BASE_SECONDS=1,
        )

        def campaign_sent():
            """the campaign to be marked sent"""
            return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENT).first()

        tick_until(campaign_sent)
        time.sleep(1)  # anything sent twice or late would arrive now

        rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
        phones = Counter(message["phone"] for message in fake.sent)
        assert phones == Counter(str(p.phone) for p in profiles)
        assert fake.refused == [(throttled, "isv.BUSINESS_LIMIT_CONTROL")]
        assert {row.status for row in rows.values()} == {Send.Status.SENT}
        assert rows[profiles[0].pk].attempts == 2
        assert {row.message_id for row in rows.values()} == {m["biz_id"] for m in fake.sent}

        failed_phone = str(profiles[1].phone)
        delivered = [m for m in fake.sent if m["phone"] != failed_phone]
        failed = [m for m in fake.sent if m["phone"] == failed_phone]
        status, body = fake.post_receipts(receipts_url, fake.reports(sent=delivered))
        assert status == 200, body
        status, body = fake.post_receipts(
            receipts_url, fake.reports(success=False, code="MOBILE_NOT_ON_SERVICE", sent=failed)
        )
        assert status == 200, body
        # The provider pushes the same receipts again: nothing changes.
        again, _body = fake.post_receipts(receipts_url, fake.reports(sent=delivered))

        rows = {row.profile_id: row for row in Send.objects.filter(campaign=campaign)}
        assert again == 200
        failed_row = rows.pop(profiles[1].pk)
        assert (failed_row.delivery, failed_row.delivery_code) == (
            Send.Delivery.FAILED,
            "MOBILE_NOT_ON_SERVICE",
        )
        assert {row.delivery for row in rows.values()} == {Send.Delivery.DELIVERED}
        assert all(row.delivery_at is not None for row in rows.values())
        forged, _body = fake.post_receipts(
            live_server.url + reverse("campaigns:sms-receipts-aliyun", args=["not-the-token"]),
            fake.reports(success=False, sent=delivered),
        )
        assert forged == 403
        assert Send.objects.filter(
            campaign=campaign, delivery=Send.Delivery.DELIVERED
        ).count() == len(delivered)
    finally:
        fake.stop()
