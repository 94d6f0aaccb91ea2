"""End-user consent pages: signed links, one-click unsubscribe, preferences and double opt-in."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from profiles.models import ConsentRecord, ConsentSource, ConsentStatus
from profiles.services.consent import ConsentEntry, consent_current, consent_record
from profiles.services.consent_links import (
    consent_preferences_url,
    consent_token_make,
    consent_unsubscribe_url,
    opt_in_confirm_url,
    opt_in_token_make,
)
from profiles.services.consent_optin import ERROR_NO_EMAIL, consent_opt_in_send
from profiles.views.optin import MESSAGE_SENT
from profiles.views.public import TITLE_REFUSED
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

USER_AGENT = "Mozilla/5.0 (test)"


def _path(url: str) -> str:
    return urlsplit(url).path


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


def _status(profile, channel="email", purpose="marketing"):
    state = consent_current(profile=profile).get((channel, purpose))
    return state.status if state else None


def _tampered(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


# Tokens: every unusable token gets one and the same answer.


def _unusable_tokens():
    """Return (reason, preferences token, opt-in token) for each kind of unusable link."""
    profile = ProfileFactory()
    gone = ProfileFactory()
    gone_pk = gone.pk
    gone.delete()
    link = consent_token_make(profile_id=profile.pk, channel="email")
    opt_in = opt_in_token_make(profile_id=profile.pk, channel="email")
    return [
        ("tampered", _tampered(link), _tampered(opt_in)),
        ("malformed", "not-a-token", "not-a-token"),
        ("empty payload", "e30:1uABCD:xyz", "e30:1uABCD:xyz"),
        (
            "unknown profile",
            consent_token_make(profile_id=gone_pk, channel="email"),
            opt_in_token_make(profile_id=gone_pk, channel="email"),
        ),
        (
            "never existed",
            consent_token_make(profile_id=10**9, channel="email"),
            opt_in_token_make(profile_id=10**9, channel="email"),
        ),
        (
            "unknown channel",
            consent_token_make(profile_id=profile.pk, channel="fax"),
            opt_in_token_make(profile_id=profile.pk, channel="fax"),
        ),
        ("other salt", opt_in, link),  # an opt-in token is no preference token, and back
    ]


def _answers(client, token: str, opt_in_token: str):
    for name, value in (("preferences", token), ("unsubscribe", token), ("confirm", opt_in_token)):
        url = reverse(f"consent_public:{name}", args=[value])
        for method in (client.get, client.post):
            response = method(url)
            yield response.status_code, response.content


def test_unusable_tokens_all_get_the_same_answer_whatever_the_reason():
    client = Client()
    profile = ProfileFactory()
    _grant(profile)
    valid = consent_token_make(profile_id=profile.pk, channel="email")
    baseline = client.get(reverse("consent_public:preferences", args=[_tampered(valid)]))

    answers = {
        reason: set(_answers(client, token, opt_in)) for reason, token, opt_in in _unusable_tokens()
    }

    assert baseline.status_code == 404
    assert str(TITLE_REFUSED) in baseline.content.decode()
    for reason, seen in answers.items():
        assert seen == {(404, baseline.content)}, reason
    assert _status(profile) == ConsentStatus.GRANTED
    assert ConsentRecord.objects.count() == 1


def test_an_expired_link_gets_the_same_answer_as_a_tampered_one(settings):
    settings.CONSENT_TOKEN_MAX_AGE_DAYS = 30
    settings.CONSENT_OPT_IN_MAX_AGE_DAYS = 7
    client = Client()
    profile = ProfileFactory()
    _grant(profile)
    start = datetime.datetime(2025, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        token = consent_token_make(profile_id=profile.pk, channel="email")
        opt_in = opt_in_token_make(profile_id=profile.pk, channel="email")
        refused = client.get(reverse("consent_public:preferences", args=[_tampered(token)]))
        fresh = client.get(reverse("consent_public:unsubscribe", args=[token]))

    with time_machine.travel(start + datetime.timedelta(days=31), tick=False):
        expired = set(_answers(client, token, opt_in))

    assert fresh.status_code == 200
    assert expired == {(404, refused.content)}
    assert _status(profile) == ConsentStatus.GRANTED


def test_an_opt_in_link_expires_sooner_than_a_preference_link(settings):
    settings.CONSENT_TOKEN_MAX_AGE_DAYS = 365
    settings.CONSENT_OPT_IN_MAX_AGE_DAYS = 7
    profile = ProfileFactory()
    start = datetime.datetime(2025, 3, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        preferences = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))
        confirm = _path(opt_in_confirm_url(profile_id=profile.pk, channel="email"))

    with time_machine.travel(start + datetime.timedelta(days=8), tick=False):
        assert Client().get(preferences).status_code == 200
        assert Client().post(confirm).status_code == 404

    assert _status(profile) is None


# One-click unsubscribe (RFC 8058).


def test_one_click_unsubscribe_needs_no_cookie_session_or_csrf_and_is_idempotent():
    profile = ProfileFactory()
    _grant(profile)
    url = _path(consent_unsubscribe_url(profile_id=profile.pk, channel="email"))
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=USER_AGENT)

    first = client.post(url, {"List-Unsubscribe": "One-Click"})
    second = client.post(url, {"List-Unsubscribe": "One-Click"})

    assert first.status_code == 200
    assert second.status_code == 200
    assert not first.cookies and not second.cookies
    records = ConsentRecord.objects.filter(profile=profile).order_by("pk")
    assert [(r.status, r.source) for r in records] == [
        (ConsentStatus.GRANTED, ConsentSource.WEB_FORM),
        (ConsentStatus.WITHDRAWN, ConsentSource.UNSUBSCRIBE),
    ]
    withdrawal = records.last()
    assert (withdrawal.channel, withdrawal.purpose) == ("email", "marketing")
    assert withdrawal.evidence_ip == "127.0.0.1"
    assert withdrawal.evidence_user_agent == USER_AGENT
    assert _status(profile) == ConsentStatus.WITHDRAWN


def test_one_click_unsubscribe_withdraws_only_the_links_channel_and_purpose():
    profile = ProfileFactory()
    _grant(profile, "email")
    _grant(profile, "sms")
    url = _path(consent_unsubscribe_url(profile_id=profile.pk, channel="sms"))

    Client(enforce_csrf_checks=True).post(url)

    assert _status(profile, "sms") == ConsentStatus.WITHDRAWN
    assert _status(profile, "email") == ConsentStatus.GRANTED


def test_opening_the_unsubscribe_link_only_shows_a_button():
    profile = ProfileFactory()
    _grant(profile)
    url = _path(consent_unsubscribe_url(profile_id=profile.pk, channel="email"))

    response = Client().get(url)

    assert response.status_code == 200
    assert f'action="{url}"' in response.content.decode()
    assert 'method="post"' in response.content.decode()
    assert _status(profile) == ConsentStatus.GRANTED
    assert ConsentRecord.objects.count() == 1


# Preference page.


def test_preference_page_shows_each_channel_and_purpose_without_the_back_office():
    profile = ProfileFactory(name="韩梅梅")
    _grant(profile, "email", "marketing")
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))

    response = Client().get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'name="consent-email-marketing"[^>]*checked', html)
    assert not re.search(r'name="consent-sms-marketing"[^>]*checked', html)
    assert 'name="consent-email-profiling"' in html
    assert 'name="consent-sms-profiling"' in html
    assert "mainnav" not in html
    assert profile.name not in html and profile.email not in html
    assert 'name="viewport"' in html
    assert not re.search(r'<link(?![^>]*href="data:)', html) and "<script" not in html


def test_saving_preferences_appends_records_only_for_changed_pairs():
    profile = ProfileFactory()
    _grant(profile, "email", "marketing")
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="sms"))
    client = Client(HTTP_USER_AGENT=USER_AGENT)
    before = ConsentRecord.objects.count()

    response = client.post(url, {"consent-email-marketing": "1", "consent-sms-marketing": "1"})
    again = client.post(url, {"consent-email-marketing": "1", "consent-sms-marketing": "1"})

    assert response.status_code == 200 and again.status_code == 200
    added = list(ConsentRecord.objects.filter(profile=profile).order_by("pk")[before:])
    assert [(r.channel, r.purpose, r.status) for r in added] == [
        ("sms", "marketing", ConsentStatus.GRANTED)
    ]
    record = added[0]
    assert record.source == ConsentSource.PREFERENCES
    assert record.evidence_ip == "127.0.0.1"
    assert record.evidence_user_agent == USER_AGENT
    assert record.notice_version
    assert re.search(r'name="consent-sms-marketing"[^>]*checked', response.content.decode())


def test_unticking_everything_withdraws_what_was_granted_and_leaves_the_rest_alone():
    profile = ProfileFactory()
    _grant(profile, "email", "marketing")
    _grant(profile, "sms", "marketing")
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))

    Client().post(url, {})

    added = ConsentRecord.objects.filter(profile=profile, source=ConsentSource.PREFERENCES)
    assert sorted((r.channel, r.purpose, r.status) for r in added) == [
        ("email", "marketing", ConsentStatus.WITHDRAWN),
        ("sms", "marketing", ConsentStatus.WITHDRAWN),
    ]
    assert _status(profile, "email", "profiling") is None


def test_the_preference_form_is_protected_against_cross_site_posts():
    profile = ProfileFactory()
    url = _path(consent_preferences_url(profile_id=profile.pk, channel="email"))
    client = Client(enforce_csrf_checks=True)

    forged = client.post(url, {"consent-email-marketing": "1"})
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    genuine = client.post(url, {"consent-email-marketing": "1", "csrfmiddlewaretoken": token})

    assert forged.status_code == 403
    assert genuine.status_code == 200
    assert ConsentRecord.objects.filter(profile=profile).count() == 1


# Double opt-in.


def test_double_opt_in_email_carries_a_link_whose_confirmation_appends_the_grant():
    profile = ProfileFactory(email="meimei@example.com")

    consent_opt_in_send(profile=profile, channel="email", purpose="marketing")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["meimei@example.com"]
    assert message.subject
    url = re.search(r"https?://\S+", message.body)[0]
    path = _path(url)
    assert path.startswith("/c/confirm/")
    client = Client(HTTP_USER_AGENT=USER_AGENT)

    shown = client.get(path)
    assert shown.status_code == 200
    assert _status(profile) is None

    confirmed = client.post(path)
    client.post(path)

    assert confirmed.status_code == 200
    records = ConsentRecord.objects.filter(profile=profile)
    assert [(r.status, r.source) for r in records] == [
        (ConsentStatus.GRANTED, ConsentSource.DOUBLE_OPT_IN)
    ]
    assert records[0].evidence_user_agent == USER_AGENT
    assert _status(profile) == ConsentStatus.GRANTED


def test_confirming_after_a_withdrawal_grants_again():
    profile = ProfileFactory()
    _grant(profile)
    Client().post(_path(consent_unsubscribe_url(profile_id=profile.pk, channel="email")))

    Client().post(_path(opt_in_confirm_url(profile_id=profile.pk, channel="email")))

    assert _status(profile) == ConsentStatus.GRANTED
    assert ConsentRecord.objects.filter(profile=profile).count() == 3


def test_double_opt_in_is_refused_for_a_profile_without_email():
    profile = ProfileFactory(email="")

    with pytest.raises(ValidationError) as raised:
        consent_opt_in_send(profile=profile)

    assert str(ERROR_NO_EMAIL) in raised.value.messages
    assert mail.outbox == []


def test_consent_admins_send_an_opt_in_from_the_back_office(client, consent_admin):
    profile = ProfileFactory()
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:consent-opt-in", args=[profile.external_id]),
        {"channel": "email", "purpose": "marketing"},
        follow=True,
    )

    assert response.redirect_chain[0][1] == 302
    assert response.redirect_chain[0][0].endswith(f"/{profile.external_id}/")
    assert str(MESSAGE_SENT) in [str(m) for m in response.context["messages"]]
    assert [m.to for m in mail.outbox] == [[profile.email]]


def test_the_opt_in_view_reports_a_missing_email(client, consent_admin):
    profile = ProfileFactory(email="")
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:consent-opt-in", args=[profile.external_id]), follow=True
    )

    assert str(ERROR_NO_EMAIL) in [str(m) for m in response.context["messages"]]
    assert mail.outbox == []


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager", "outsider"])
def test_only_consent_admins_may_send_an_opt_in(client, request, persona):
    profile = ProfileFactory()
    client.force_login(request.getfixturevalue(persona))

    response = client.post(reverse("profiles:consent-opt-in", args=[profile.external_id]))

    assert response.status_code == 403
    assert mail.outbox == []
