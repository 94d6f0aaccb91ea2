"""The engagement hook: opens, clicks and deliveries reach the receivers once committed."""

import logging

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.db import transaction
from django.utils import timezone

from campaigns.hooks import ENGAGEMENT, EngagementRecord, engagement_register, engagement_unregister
from campaigns.models import Send, TrackingEvent
from campaigns.tracking import click_url, open_url, tracking_record
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

TARGET = "https://shop.example/sale"


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def received():
    """Register a receiver for the test; return the list of the records it was given."""
    calls: list[EngagementRecord] = []
    engagement_register(calls.append)
    yield calls
    engagement_unregister(calls.append)


@pytest.fixture
def send():
    campaign = campaign_make(status="sending")
    row = Send.objects.create(
        campaign=campaign, profile=ProfileFactory(), status=Send.Status.SENT, address="a@b.example"
    )
    row.message_id = f"<send-{row.pk}.c{campaign.pk}@shop.example>"
    row.save(update_fields=["message_id"])
    return row


def provider_event(send, event_type, event_id, **extra):
    return AnymailTrackingEvent(
        event_type=event_type,
        event_id=event_id,
        message_id=send.message_id,
        recipient=send.address,
        timestamp=timezone.now(),
        **extra,
    )


def expected(send, kind: str) -> EngagementRecord:
    event = TrackingEvent.objects.filter(kind=kind).latest("pk")
    return EngagementRecord(send.pk, send.campaign_id, send.profile_id, kind, event.at)


def test_the_open_pixel_passes_an_open_after_commit(
    client, send, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(open_url(send_id=send.pk).removeprefix("http://testserver"))
        assert received == []

    assert response.status_code == 200
    assert received == [expected(send, "open")]


def test_a_click_redirect_passes_a_click(
    client, send, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            click_url(send_id=send.pk, url=TARGET).removeprefix("http://testserver")
        )

    assert response["Location"] == TARGET
    assert received == [expected(send, "click")]


def test_provider_deliveries_opens_and_clicks_pass_once_and_bounces_not_at_all(
    send, received, django_capture_on_commit_callbacks
):
    events = [
        provider_event(send, "delivered", "d-1"),
        provider_event(send, "delivered", "d-1"),  # the provider retries
        provider_event(send, "opened", "o-1"),
        provider_event(send, "clicked", "c-1", click_url=TARGET),
        provider_event(send, "bounced", "b-1"),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        for event in events:
            tracking.send(sender=object, event=event, esp_name="X")

    assert received == [
        expected(send, "delivered"),
        expected(send, "open"),
        expected(send, "click"),
    ]


def test_a_forged_pixel_passes_nothing(client, send, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get("/campaigns/t/o/forged/")

    assert response.status_code == 404
    assert received == []


def test_nothing_is_passed_when_the_transaction_rolls_back(
    send, received, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        tracking_record(send_id=send.pk, kind=TrackingEvent.Kind.OPEN)
        raise Boom

    assert received == []


def test_a_raising_receiver_is_logged_and_the_pixel_still_answers(
    client, send, django_capture_on_commit_callbacks, caplog
):
    def broken(record):
        raise Boom("receiver broke")

    engagement_register(broken)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="core.hooks"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = client.get(open_url(send_id=send.pk).removeprefix("http://testserver"))
    finally:
        engagement_unregister(broken)

    assert response.status_code == 200
    assert TrackingEvent.objects.filter(kind="open").count() == 1
    assert "campaigns.engagement" in caplog.text


def test_without_a_receiver_no_callback_is_queued(
    send, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(ENGAGEMENT, "_receivers", [])  # flows registers one in ready()

    with django_capture_on_commit_callbacks() as callbacks:
        tracking_record(send_id=send.pk, kind=TrackingEvent.Kind.CLICK, url=TARGET)

    assert callbacks == []
