"""An SMS campaign sent by a real Celery worker through the fake Aliyun SMS endpoint.

Real parts: the database (PostgreSQL on CI), the broker (Redis on CI), a `celery worker` process
whose settings come from its environment (SMS_BACKEND and SMS_ALIYUN_* pointing at the fake),
and the fake endpoint checking every request's signature. The test plays beat.
"""

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Channel, Send
from tests.campaigns.conftest import tick_until
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tools.fakes import aliyun_sms

pytestmark = pytest.mark.worker


class ReceiptCollector:
    """A loopback callback URL that keeps what is POSTed to it (until the receipts endpoint)."""

    def __init__(self):
        self.calls: list = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.calls.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/receipts/aliyun/"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_worker_sends_an_sms_campaign_through_aliyun_once_per_profile(campaign_worker):
    fake = aliyun_sms.FakeAliyunSms().start()
    collector = ReceiptCollector()
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

        status, _body = fake.post_receipts(collector.url, fake.reports())

        assert status == 200
        (reports,) = collector.calls
        assert {r["biz_id"] for r in reports} == {row.message_id for row in rows.values()}
        assert {r["out_id"] for r in reports} == {f"send-{row.pk}" for row in rows.values()}
    finally:
        fake.stop()
        collector.stop()
