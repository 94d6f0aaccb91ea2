"""Inbound SMS replies: a STOP from a number withdraws SMS marketing consent for its profiles."""

import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from campaigns.inbound import (
    ERROR_BAD_BODY,
    ERROR_BAD_NUMBER,
    ERROR_FORBIDDEN,
    ERROR_NOT_CONFIGURED,
    is_stop_reply,
)
from profiles.models import ConsentRecord
from profiles.services.consent import ConsentEntry, consent_current, consent_record
from tests.factories import ProfileFactory

SECRET = "inbound-s3cret"
PHONE = "+8613912345678"


@pytest.fixture(autouse=True)
def inbound_secret(settings):
    settings.SMS_INBOUND_SECRET = SECRET


def grant_sms(profile):
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="sms", purpose="marketing", status="granted",
            source="web_form",
        )
    )  # fmt: skip


def sms_state(profile) -> str | None:
    state = consent_current(profile=profile).get(("sms", "marketing"))
    return state.status if state else None


def post_reply(client, data, *, secret=SECRET, as_json=True, **headers):
    if secret is not None:
        headers["HTTP_X_SMS_SECRET"] = secret
    url = reverse("campaigns:sms-inbound")
    if as_json:
        return client.post(url, json.dumps(data), content_type="application/json", **headers)
    return client.post(url, data, **headers)


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "TD",
        "td",
        "退订",
        " 退订。",
        "STOP!",
        "ＳＴＯＰ",
        "\n td \n",
        "【退订】",
        "T",
        "t",
        "ｔ",
        "Ｔ。",
        "ｔｄ",
        "END",
        "Cancel",
        "quit",
        "ＵＮＳＵＢＳＣＲＩＢＥ",
        "unsubscribe!",
    ],
)
def test_these_replies_are_stop_words(text):
    assert is_stop_reply(text)


@pytest.mark.parametrize(
    "text",
    ["", "  ", "STOP please", "stopp", "不退订", "TD123", "S T O P", "退", "hello", "T1", "ends"],
)
def test_these_replies_are_not_stop_words(text):
    assert not is_stop_reply(text)


@pytest.mark.django_db
def test_a_stop_withdraws_sms_marketing_for_every_profile_with_that_number(client):
    first = ProfileFactory(phone=PHONE)
    second = ProfileFactory(phone=PHONE)
    other = ProfileFactory(phone="+8613900000000")
    for profile in (first, second, other):
        grant_sms(profile)

    response = post_reply(client, {"from": "139 1234 5678", "text": "退订"})

    assert response.status_code == 200
    assert response.json() == {"withdrawn": 2}
    assert sms_state(first) == sms_state(second) == "withdrawn"
    assert sms_state(other) == "granted"
    record = ConsentRecord.objects.filter(profile=first).latest("id")
    assert (record.source, record.evidence, record.purpose) == ("sms_stop", "退订", "marketing")


@pytest.mark.django_db
def test_a_second_stop_records_nothing(client):
    profile = ProfileFactory(phone=PHONE)
    grant_sms(profile)
    post_reply(client, {"from": PHONE, "text": "STOP"})

    response = post_reply(client, {"from": PHONE, "text": "stop"})

    assert response.json() == {"withdrawn": 0}
    assert ConsentRecord.objects.filter(profile=profile, source="sms_stop").count() == 1


@pytest.mark.django_db
def test_a_stop_from_a_number_without_any_sms_consent_records_the_withdrawal(client):
    profile = ProfileFactory(phone=PHONE)

    response = post_reply(client, {"from": PHONE, "text": "TD"}, as_json=False)

    assert response.json() == {"withdrawn": 1}
    assert sms_state(profile) == "withdrawn"


@pytest.mark.django_db
def test_a_stop_leaves_email_consent_alone(client):
    profile = ProfileFactory(phone=PHONE)
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="email", purpose="marketing", status="granted",
            source="web_form",
        )
    )  # fmt: skip

    post_reply(client, {"from": PHONE, "text": "STOP"})

    assert consent_current(profile=profile)[("email", "marketing")].status == "granted"


@pytest.mark.django_db
def test_any_other_reply_is_accepted_and_changes_nothing(client):
    profile = ProfileFactory(phone=PHONE)
    grant_sms(profile)

    response = post_reply(client, {"from": PHONE, "text": "好的，谢谢"})

    assert response.json() == {"withdrawn": 0}
    assert sms_state(profile) == "granted"


@pytest.mark.django_db
def test_a_reply_signed_with_an_hmac_of_the_body_is_accepted(client):
    profile = ProfileFactory(phone=PHONE)
    grant_sms(profile)
    body = json.dumps({"from": PHONE, "text": "STOP"}).encode()
    now = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()

    response = client.post(
        reverse("campaigns:sms-inbound"),
        body,
        content_type="application/json",
        HTTP_X_SMS_SIGNATURE=f"t={now},v1={signature}",
    )

    assert response.json() == {"withdrawn": 1}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_X_SMS_SECRET": "wrong"}, {"HTTP_X_SMS_SIGNATURE": "t=1,v1=00"}],
)
def test_a_reply_without_the_secret_is_refused(client, headers):
    profile = ProfileFactory(phone=PHONE)
    grant_sms(profile)

    response = post_reply(client, {"from": PHONE, "text": "STOP"}, secret=None, **headers)

    assert response.status_code == 403
    assert response.json() == {"error": str(ERROR_FORBIDDEN)}
    assert sms_state(profile) == "granted"


@pytest.mark.django_db
def test_replies_are_refused_while_no_secret_is_configured(client, settings):
    settings.SMS_INBOUND_SECRET = ""

    response = post_reply(client, {"from": PHONE, "text": "STOP"}, secret="")

    assert response.status_code == 503
    assert response.json() == {"error": str(ERROR_NOT_CONFIGURED)}


@pytest.mark.django_db
@pytest.mark.parametrize("data", [{"text": "STOP"}, {"from": PHONE}, {"from": 1, "text": "x"}, []])
def test_a_reply_without_a_sender_or_text_is_a_bad_request(client, data):
    response = post_reply(client, data)

    assert response.status_code == 400
    assert response.json() == {"error": str(ERROR_BAD_BODY)}


@pytest.mark.django_db
def test_a_sender_that_is_no_phone_number_is_a_bad_request(client):
    response = post_reply(client, {"from": "abc", "text": "STOP"})

    assert response.status_code == 400
    assert response.json() == {"error": ERROR_BAD_NUMBER % {"value": "abc"}}


@pytest.mark.django_db
def test_it_needs_no_login_and_no_csrf_token_but_only_takes_posts(client):
    client.handler.enforce_csrf_checks = True

    posted = post_reply(client, {"from": PHONE, "text": "hi"})
    fetched = client.get(reverse("campaigns:sms-inbound"), HTTP_X_SMS_SECRET=SECRET)

    assert posted.status_code == 200
    assert fetched.status_code == 405
