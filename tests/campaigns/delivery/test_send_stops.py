"""A send that cannot work stops with its reason instead of failing every row and ending "sent"."""

import pytest
from django.urls import reverse

from campaigns.delivery import campaign_send
from campaigns.delivery.send import ERROR_HALTED
from campaigns.models import Campaign, Send, Variant
from campaigns.selectors import campaign_halt_reason
from campaigns.services.audience import campaign_start
from campaigns.services.sender import ERROR_BAD_FROM
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def delivery_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_RATE_LIMIT_EMAIL = 0
    settings.CAMPAIGN_MAX_ATTEMPTS = 5
    settings.CAMPAIGN_MARK_EVERY = 3
    return settings


@pytest.fixture
def smtp_delivery(settings, smtp_server):
    """Send through Django's SMTP backend (the fast path that builds the bytes itself)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return smtp_server


def _started(campaign) -> Campaign:
    campaign_start(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def _with_body(campaign, body: str) -> Campaign:
    Variant.objects.filter(campaign=campaign).update(body_text=body)
    return campaign


def test_a_send_whose_first_messages_mostly_fail_to_render_stops_with_the_reason():
    profiles = profiles_make(25, traits={})
    campaign = _with_body(
        campaign_ready(include=[segment_with(profiles)], weights=(100,)), "{{ traits.level }}"
    )
    _started(campaign)

    campaign_send(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    reason = campaign_halt_reason(campaign=campaign)
    assert campaign.status == Campaign.Status.PAUSED
    assert reason.startswith(ERROR_HALTED.split("{")[0])
    assert "level" in reason
    assert Send.objects.filter(status=Send.Status.SENT).count() == 0
    assert Send.objects.filter(status=Send.Status.QUEUED).count() > 0


def test_a_few_profiles_that_cannot_be_rendered_do_not_stop_the_send():
    profiles = profiles_make(9, traits={"level": "gold"}) + profiles_make(1, traits={})
    campaign = _with_body(
        campaign_ready(include=[segment_with(profiles)], weights=(100,)), "{{ traits.level }}"
    )
    _started(campaign)

    campaign_send(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert Send.objects.filter(status=Send.Status.SENT).count() == 9
    assert Send.objects.get(status=Send.Status.FAILED).error


def test_a_bad_sender_saved_before_it_was_checked_stops_the_send_with_the_real_error(
    smtp_delivery,
):
    profiles = profiles_make(6)
    campaign = _started(
        campaign_ready(include=[segment_with(profiles)], from_email="not an address <<")
    )

    campaign_send(campaign_id=campaign.pk)  # no exception: the worker does not die

    campaign.refresh_from_db()
    reason = campaign_halt_reason(campaign=campaign)
    assert campaign.status == Campaign.Status.PAUSED
    assert ERROR_BAD_FROM in reason
    assert not Send.objects.filter(status=Send.Status.SENDING).exists()
    assert smtp_delivery.messages == []
    failed = Send.objects.filter(status=Send.Status.FAILED)
    assert all(ERROR_BAD_FROM in row.error for row in failed)


def test_the_manager_sees_why_the_send_stopped(client, campaign_manager):
    profiles = profiles_make(4, traits={})
    campaign = _with_body(
        campaign_ready(include=[segment_with(profiles)], weights=(100,)), "{{ traits.level }}"
    )
    _started(campaign)
    campaign_send(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    client.force_login(campaign_manager)

    page = client.get(reverse("campaigns:detail", args=[campaign.slug])).content.decode()
    api = client.get(f"/api/v1/campaigns/{campaign.slug}/").json()

    assert campaign_halt_reason(campaign=campaign)
    assert campaign_halt_reason(campaign=campaign).replace("'", "&#x27;") in page
    assert api["status"] == "paused"
    assert api["status_reason"] == campaign_halt_reason(campaign=campaign)
