"""Links in messages: an unsubscribe token cannot grant anything; a preference link grants only
what it was sent for, and anything more waits for a double opt-in confirmation."""

import datetime
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from profiles.models import ConsentSource, ConsentStatus
from profiles.services.consent import ConsentEntry, consent_current, consent_record
from profiles.services.consent_links import (
    ConsentLinker,
    consent_preferences_url,
    consent_token_make,
    consent_unsubscribe_url,
    preferences_token_read,
)
from profiles.views.public import MESSAGE_CONFIRMATION_SENT, TITLE_REFUSED
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

EVERY_BOX = {
    "consent-email-marketing": "1",
    "consent-sms-marketing": "1",
    "consent-email-profiling": "1",
    "consent-sms-profiling": "1",
}


def _path(url: str) -> str:
    return urlsplit(url).path


def _status(profile, channel, purpose):
    state = consent_current(profile=profile).get((channel, purpose))
    return state.status if state else None


def _grant(profile, channel="email", purpose="marketing"):
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel=channel,
            purpose=purpose,
            status=ConsentStatus.GRANTED,
            source=ConsentSource.WEB_FORM,
        )
    )


def test_an_unsubscribe_token_does_not_open_the_preference_page():
    profile = ProfileFactory(email="li.lei@example.com")
    _grant(profile)
    unsubscribe_token = consent_token_make(profile_id=profile.pk, channel="email")
    page = reverse("consent_public:preferences", args=[unsubscribe_token])

    shown = Client().get(page)
    posted = Client().post(page, EVERY_BOX)

    assert shown.status_code == posted.status_code == 404
    assert str(TITLE_REFUSED) in posted.content.decode()
    assert _status(profile, "sms", "marketing") is None
    assert _status(profile, "email", "profiling") is None


def test_a_preference_link_grants_only_the_channel_and_purpose_it_was_sent_for():
    profile = ProfileFactory(email="li.lei@example.com", phone="+8613800138000")
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))

    response = Client().post(url, EVERY_BOX)

    assert response.status_code == 200
    assert _status(profile, "email", "marketing") == ConsentStatus.GRANTED
    assert _status(profile, "sms", "marketing") is None
    assert _status(profile, "email", "profiling") is None
    assert _status(profile, "sms", "profiling") is None
    assert str(MESSAGE_CONFIRMATION_SENT) in response.content.decode()


def test_other_grants_from_a_preference_link_wait_for_the_double_opt_in_confirmation():
    profile = ProfileFactory(email="li.lei@example.com", phone="+8613800138000")
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))
    Client().post(url, {"consent-sms-marketing": "1"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["li.lei@example.com"]
    confirm = _path(
        next(line for line in mail.outbox[0].body.splitlines() if "/c/confirm/" in line)
    )

    Client().post(confirm)

    assert _status(profile, "sms", "marketing") == ConsentStatus.GRANTED
    state = consent_current(profile=profile)[("sms", "marketing")]
    assert state.record.source == ConsentSource.DOUBLE_OPT_IN


def test_a_preference_link_still_withdraws_any_channel_and_purpose():
    profile = ProfileFactory(email="li.lei@example.com")
    _grant(profile, "sms", "marketing")
    _grant(profile, "email", "profiling")
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))

    Client().post(url, {})

    assert _status(profile, "sms", "marketing") == ConsentStatus.WITHDRAWN
    assert _status(profile, "email", "profiling") == ConsentStatus.WITHDRAWN
    assert len(mail.outbox) == 0


def test_a_preference_link_expires_long_before_an_unsubscribe_link(settings):
    settings.CONSENT_TOKEN_MAX_AGE_DAYS = 365
    settings.CONSENT_PREFERENCES_MAX_AGE_DAYS = 30
    profile = ProfileFactory(email="li.lei@example.com")
    _grant(profile)
    start = datetime.datetime(2025, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        preferences = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))
        unsubscribe = _path(consent_unsubscribe_url(profile_id=profile.pk, channel="email"))

    with time_machine.travel(start + datetime.timedelta(days=31), tick=False):
        expired = Client().get(preferences)
        still_valid = Client().get(unsubscribe)

    assert expired.status_code == 404
    assert still_valid.status_code == 200


def test_messages_carry_a_different_token_in_their_unsubscribe_and_preference_links():
    profile = ProfileFactory(email="li.lei@example.com")
    linker = ConsentLinker(channel="email")

    unsubscribe, preferences = linker.urls(profile.pk)

    unsubscribe_token = _path(unsubscribe).rstrip("/").rsplit("/", 1)[-1]
    preferences_token = _path(preferences).rstrip("/").rsplit("/", 1)[-1]
    assert unsubscribe_token != preferences_token
    assert preferences_token_read(unsubscribe_token) is None
    assert preferences_token_read(preferences_token).profile_id == profile.pk
    assert Client().get(_path(preferences)).status_code == 200
