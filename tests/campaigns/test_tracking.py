"""Tracking: signed click redirects and open pixels in sent emails, and provider webhooks."""

import hashlib
import hmac
import json
import re
import time
from html import unescape

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent, tracking
from django.core import mail, signing
from django.utils import timezone

from campaigns.delivery import campaign_send
from campaigns.models import Campaign, Send, Suppression, TrackingEvent
from campaigns.results import campaign_results
from campaigns.services.audience import campaign_start
from campaigns.tracking import CLICK_SALT, OPEN_SALT, Tracker, click_url, open_url
from profiles.models import ConsentRecord, ConsentSource, ConsentState, ConsentStatus
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

pytestmark = pytest.mark.django_db

TARGET = "https://shop.example/sale?x=1&y=2"
HTML = (
    '<html><body><p>Hi {{ name }}</p><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a> '
    '<a href="mailto:help@shop.example">Help</a> '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>'
)


@pytest.fixture(autouse=True)
def delivery_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_RATE_LIMIT_EMAIL = 0
    settings.CAMPAIGN_TRACKING = True
    settings.SITE_URL = "http://testserver"
    return settings


def sent_campaign(count=1, slug="tracked"):
    profiles = profiles_make(count)
    campaign = campaign_ready(include=[segment_with(profiles, slug=f"{slug}-seg")], slug=slug)
    campaign.variants.update(body_html=HTML)
    campaign_start(campaign_id=campaign.pk)
    campaign_send(campaign_id=campaign.pk)
    return Campaign.objects.get(pk=campaign.pk)


def html_of(message) -> str:
    return message.alternatives[0].content


def links_in(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]*)"', html)]


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_a_batch_tracker_makes_the_same_urls_as_the_functions():
    with time_machine.travel("2026-03-01 08:00:00+00:00", tick=False):
        tracker = Tracker()

        urls = [tracker.open_url(send_id=42), tracker.click_url(send_id=42, url=TARGET)]
        expected = [open_url(send_id=42), click_url(send_id=42, url=TARGET)]

    assert urls == expected


def test_links_are_tracked_except_unsubscribe_and_mailto_and_a_pixel_is_added():
    sent_campaign()

    html = html_of(mail.outbox[0])

    links = links_in(html)
    assert links[0].startswith("http://testserver/campaigns/t/c/")
    assert links[1] == "mailto:help@shop.example"
    assert "/t/" not in links[2] and "unsubscribe" in links[2]
    assert re.search(r'<img src="http://testserver/campaigns/t/o/[^"]+"[^>]*></body>', html)


def test_a_click_on_a_tracked_link_lands_on_the_right_url_and_counts_once(client):
    campaign = sent_campaign()
    tracked = path_of(links_in(html_of(mail.outbox[0]))[0])

    first = client.get(tracked)
    second = client.get(tracked)

    assert first.status_code == 302
    assert first["Location"] == TARGET
    assert second["Location"] == TARGET
    send = Send.objects.get(campaign=campaign)
    assert list(TrackingEvent.objects.values_list("send_id", "kind", "url")) == [
        (send.pk, "click", TARGET),
        (send.pk, "click", TARGET),
    ]
    results = campaign_results(campaign=campaign)
    assert [row["clicks"] for row in results["variants"] if row["sent"]] == [1]


def test_a_forged_or_altered_click_link_is_refused_and_redirects_nowhere(client):
    campaign = sent_campaign()
    send = Send.objects.get(campaign=campaign)
    genuine = path_of(click_url(send_id=send.pk, url=TARGET))
    token = genuine.rstrip("/").rsplit("/", 1)[1]
    forged_target = signing.dumps({"s": send.pk, "u": "https://evil.example/"}, salt="other")
    open_token = signing.dumps(send.pk, salt=OPEN_SALT)
    not_http = signing.dumps({"s": send.pk, "u": "javascript:alert(1)"}, salt=CLICK_SALT)

    answers = [
        client.get(f"/campaigns/t/c/{token[:-2]}xx/"),
        client.get(f"/campaigns/t/c/{forged_target}/"),
        client.get(f"/campaigns/t/c/{open_token}/"),
        client.get(f"/campaigns/t/c/{not_http}/"),
        client.get("/campaigns/t/c/garbage/"),
    ]

    assert [answer.status_code for answer in answers] == [400] * 5
    assert not any(answer.has_header("Location") for answer in answers)
    assert not TrackingEvent.objects.exists()


def test_the_open_pixel_records_an_open_without_login_and_a_forged_one_is_404(client):
    campaign = sent_campaign()
    send = Send.objects.get(campaign=campaign)

    response = client.get(path_of(open_url(send_id=send.pk)))
    forged = client.get(f"/campaigns/t/o/{signing.dumps(send.pk, salt='nope')}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert forged.status_code == 404
    assert list(TrackingEvent.objects.values_list("send_id", "kind")) == [(send.pk, "open")]


def provider_event(send, event_type, event_id, **extra):
    return AnymailTrackingEvent(
        event_type=event_type,
        event_id=event_id,
        message_id=send.message_id.strip("<>"),
        recipient=send.address.upper(),
        timestamp=timezone.now(),
        **extra,
    )


def test_provider_events_are_recorded_once_per_event_id():
    campaign = sent_campaign()
    send = Send.objects.get(campaign=campaign)

    for _attempt in range(2):
        tracking.send(sender=object, event=provider_event(send, "delivered", "d-1"), esp_name="X")
    tracking.send(sender=object, event=provider_event(send, "opened", "o-1"), esp_name="X")
    tracking.send(
        sender=object,
        event=provider_event(send, "clicked", "c-1", click_url=TARGET),
        esp_name="X",
    )
    tracking.send(sender=object, event=provider_event(send, "queued", "q-1"), esp_name="X")

    rows = list(TrackingEvent.objects.order_by("pk").values_list("kind", "provider_event_id"))
    assert rows == [("delivered", "X:d-1"), ("open", "X:o-1"), ("click", "X:c-1")]


def test_events_for_messages_that_are_not_ours_are_ignored():
    event = AnymailTrackingEvent(
        event_type="bounced", event_id="b-9", message_id="<abc@elsewhere>", recipient="a@b.c"
    )

    tracking.send(sender=object, event=event, esp_name="X")

    assert not TrackingEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_a_hard_bounce_suppresses_the_address():
    campaign = sent_campaign()
    send = Send.objects.get(campaign=campaign)

    tracking.send(
        sender=object,
        event=provider_event(send, "bounced", "b-1", description="550 no such user"),
        esp_name="X",
    )

    suppression = Suppression.objects.get()
    assert (suppression.channel, suppression.address) == ("email", send.address.lower())
    assert suppression.reason == Suppression.Reason.HARD_BOUNCE
    assert "550" in suppression.detail
    assert TrackingEvent.objects.get().kind == "bounce"
    delivered = campaign_results(campaign=campaign)["totals"]["delivered"]
    assert delivered == 0


def test_a_complaint_suppresses_and_withdraws_email_marketing_consent_once():
    campaign = sent_campaign()
    send = Send.objects.get(campaign=campaign)

    for _attempt in range(2):  # the provider retries the webhook
        tracking.send(sender=object, event=provider_event(send, "complained", "s-1"), esp_name="X")

    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    record = ConsentRecord.objects.filter(profile_id=send.profile_id).latest("id")
    assert (record.channel, record.purpose, record.status, record.source) == (
        "email",
        "marketing",
        ConsentStatus.WITHDRAWN,
        ConsentSource.COMPLAINT,
    )
    assert ConsentRecord.objects.filter(source=ConsentSource.COMPLAINT).count() == 1
    state = ConsentState.objects.get(profile_id=send.profile_id, channel="email")
    assert state.status == ConsentStatus.WITHDRAWN


def mailgun_call(
    send, *, token: str, key: str = "signing-key", timestamp: int | None = None
) -> str:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return json.dumps(
        {
            "signature": {
                "timestamp": timestamp,
                "token": token,
                "signature": signature.hexdigest(),
            },
            "event-data": {
                "event": "failed",
                "severity": "permanent",
                "timestamp": 1_700_000_000.5,
                "recipient": send.address,
                "reason": "bounce",
                "delivery-status": {"code": 550, "message": "5.1.1 no such user"},
                "message": {"headers": {"message-id": send.message_id.strip("<>")}},
            },
        }
    )


def test_a_mailgun_webhook_bounce_reaches_the_ledger_once_without_login(client, settings):
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": "signing-key"}
    campaign = sent_campaign()
    send = Send.objects.get(campaign=campaign)
    url = "/anymail/mailgun/tracking/"

    answers = [
        client.post(url, data=mailgun_call(send, token="tok-1"), content_type="application/json")
        for _attempt in range(2)  # Mailgun retries
    ]
    forged = client.post(
        url,
        data=mailgun_call(send, token="tok-2", key="wrong"),
        content_type="application/json",
    )

    assert [answer.status_code for answer in answers] == [200, 200]
    assert forged.status_code == 400
    assert list(TrackingEvent.objects.values_list("kind", "provider_event_id")) == [
        ("bounce", "Mailgun:tok-1")
    ]
    assert Suppression.objects.get().address == send.address.lower()
