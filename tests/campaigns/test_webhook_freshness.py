"""Signed webhooks are taken only while their signature is fresh: a recorded call replayed later
(an inbound SMS STOP, a Mailgun event) is refused."""

import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from campaigns.inbound import ERROR_FORBIDDEN
from campaigns.models import Send, TrackingEvent
from profiles.services.consent import ConsentEntry, consent_current, consent_record
from tests.campaigns.test_tracking import mailgun_call, sent_campaign
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

SECRET = "inbound-s3cret"
PHONE = "+8613912345678"


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.SMS_INBOUND_SECRET = SECRET
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": "signing-key"}
    settings.WEBHOOK_MAX_AGE_SECONDS = 300


def granted_profile():
    profile = ProfileFactory(phone=PHONE)
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="sms", purpose="marketing", status="granted",
            source="web_form",
        )
    )  # fmt: skip
    return profile


def sms_stop(client, *, signed_at: int, header: str | None = None):
    body = json.dumps({"from": PHONE, "text": "STOP"}).encode()
    mac = hmac.new(SECRET.encode(), f"{signed_at}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post(
        reverse("campaigns:sms-inbound"),
        body,
        content_type="application/json",
        HTTP_X_SMS_SIGNATURE=header or f"t={signed_at},v1={mac}",
    )


def test_an_sms_reply_signed_just_now_is_taken(client):
    profile = granted_profile()

    response = sms_stop(client, signed_at=int(time.time()) - 5)

    assert response.json() == {"withdrawn": 1}
    assert consent_current(profile=profile)[("sms", "marketing")].status == "withdrawn"


@pytest.mark.parametrize("offset", [-301, 301])
def test_an_sms_reply_signed_outside_the_window_is_refused(client, offset):
    profile = granted_profile()

    response = sms_stop(client, signed_at=int(time.time()) + offset)

    assert response.status_code == 403
    assert response.json() == {"error": str(ERROR_FORBIDDEN)}
    assert consent_current(profile=profile)[("sms", "marketing")].status == "granted"


def test_an_sms_signature_that_carries_no_time_is_refused(client):
    granted_profile()
    body = json.dumps({"from": PHONE, "text": "STOP"}).encode()
    old_style = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    response = sms_stop(client, signed_at=0, header=f"sha256={old_style}")

    assert response.status_code == 403


def test_a_mailgun_event_signed_just_now_is_taken_and_a_stale_one_refused(client):
    send = Send.objects.get(campaign=sent_campaign())
    url = "/anymail/mailgun/tracking/"

    stale = client.post(
        url,
        data=mailgun_call(send, token="tok-old", timestamp=int(time.time()) - 301),
        content_type="application/json",
    )
    fresh = client.post(
        url,
        data=mailgun_call(send, token="tok-new", timestamp=int(time.time())),
        content_type="application/json",
    )

    assert (stale.status_code, fresh.status_code) == (400, 200)
    assert list(TrackingEvent.objects.values_list("provider_event_id", flat=True)) == [
        "Mailgun:tok-new"
    ]
