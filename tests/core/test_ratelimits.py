"""The public endpoints (tracking, unsubscribe, preferences, opt-in, inbound SMS) answer 429 to a
link or an address that calls them too often, and go on answering everyone else."""

import json

import pytest
from django.urls import reverse

from campaigns.tracking import click_url, open_url
from profiles.services.consent_links import consent_token_make, preferences_token_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def test_one_tracking_link_called_past_its_rate_is_answered_429(client, settings):
    settings.PUBLIC_LINK_RATE_PER_MINUTE = 3
    pixel = path_of(open_url(send_id=987_654))
    other = path_of(click_url(send_id=987_654, url="https://example.com/"))

    answers = [client.get(pixel).status_code for _ in range(4)]

    assert answers == [404, 404, 404, 429]
    assert client.get(other).status_code == 404


@pytest.mark.parametrize("page", ["preferences", "unsubscribe"])
def test_one_consent_link_called_past_its_rate_is_answered_429(client, settings, page):
    settings.PUBLIC_LINK_RATE_PER_MINUTE = 2
    make = preferences_token_make if page == "preferences" else consent_token_make
    first, second = ProfileFactory(), ProfileFactory()
    link = reverse(f"consent_public:{page}", args=[make(profile_id=first.pk, channel="email")])
    other = reverse(f"consent_public:{page}", args=[make(profile_id=second.pk, channel="email")])

    answers = [client.get(link).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert client.get(other).status_code == 200


def test_one_address_calling_the_consent_pages_past_its_rate_is_answered_429(client, settings):
    settings.PUBLIC_ADDRESS_RATE_PER_MINUTE = 3
    profiles = ProfileFactory.create_batch(4)
    links = [
        reverse(
            "consent_public:preferences",
            args=[preferences_token_make(profile_id=p.pk, channel="email")],
        )
        for p in profiles
    ]

    answers = [client.get(link, REMOTE_ADDR="203.0.113.9").status_code for link in links]
    elsewhere = client.get(links[-1], REMOTE_ADDR="198.51.100.4")

    assert answers == [200, 200, 200, 429]
    assert elsewhere.status_code == 200


def test_one_address_posting_sms_replies_past_its_rate_is_answered_429(client, settings):
    settings.SMS_INBOUND_SECRET = "s3cret"
    settings.SMS_INBOUND_RATE_PER_MINUTE = 2
    url = reverse("campaigns:sms-inbound")
    body = json.dumps({"from": "+8613912345678", "text": "hello"})

    answers = [
        client.post(url, body, content_type="application/json", REMOTE_ADDR="203.0.113.9")
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [403, 403, 429]
    assert answers[-1]["Retry-After"] == "60"
