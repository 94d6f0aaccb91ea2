"""Consent admin pages: search, history, recording a consent, the rates report, and who may."""

import datetime

import pytest
import time_machine
from django.urls import NoReverseMatch, reverse

from profiles import charts, selectors
from profiles.models import ConsentRecord, ConsentSource, ConsentState, ConsentStatus
from profiles.services.consent import ERROR_REASON_REQUIRED, ConsentEntry, consent_record
from profiles.views.consent import MESSAGE_RECORDED
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)


def grant(profile, *, at, status=ConsentStatus.GRANTED, channel="email", purpose="marketing"):
    return consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel=channel,
            purpose=purpose,
            status=status,
            source=ConsentSource.WEB_FORM,
            recorded_at=at,
            notice_version="v1",
            evidence="signup form",
        )
    )


def record_form(**overrides):
    return {
        "channel": "email",
        "purpose": "marketing",
        "status": "withdrawn",
        "notice_version": "privacy-2026-01",
        "evidence": "phone call ticket #42",
        "reason": "The customer asked on the phone",
        **overrides,
    }


@pytest.fixture
def admin_client(client, consent_admin):
    client.force_login(consent_admin)
    return client


@pytest.mark.parametrize(
    "path", ["/profiles/consent/", "/profiles/consent/import/", "/profiles/consent/report/"]
)
def test_outsiders_get_403_on_the_consent_pages(client, outsider, path):
    client.force_login(outsider)

    response = client.get(path)

    assert response.status_code == 403


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager", "outsider"])
def test_only_consent_admins_may_see_a_history_or_record_a_consent(client, persona, request):
    profile = ProfileFactory()
    client.force_login(request.getfixturevalue(persona))

    seen = client.get(f"/profiles/consent/{profile.external_id}/")
    posted = client.post(f"/profiles/consent/{profile.external_id}/record/", record_form())

    assert seen.status_code == 403
    assert posted.status_code == 403
    assert not ConsentRecord.objects.exists()


def test_a_superuser_passes(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x"))

    assert client.get("/profiles/consent/").status_code == 200


def test_a_consent_admin_records_a_withdrawal_with_a_reason(admin_client, consent_admin):
    profile = ProfileFactory()
    grant(profile, at=NOW - datetime.timedelta(days=3))

    response = admin_client.post(
        f"/profiles/consent/{profile.external_id}/record/", record_form(), follow=True
    )

    record = ConsentRecord.objects.order_by("-id").first()
    assert response.redirect_chain[-1][0] == f"/profiles/consent/{profile.external_id}/"
    assert str(MESSAGE_RECORDED) in response.content.decode()
    assert record.source == ConsentSource.ADMIN
    assert record.recorded_by == consent_admin
    assert record.reason == "The customer asked on the phone"
    assert record.notice_version == "privacy-2026-01"
    state = ConsentState.objects.get(profile=profile, channel="email", purpose="marketing")
    assert state.status == ConsentStatus.WITHDRAWN


@pytest.mark.parametrize("reason", ["", "  ", "\u3000"])
def test_a_consent_without_a_reason_is_refused(admin_client, reason):
    profile = ProfileFactory()

    response = admin_client.post(
        f"/profiles/consent/{profile.external_id}/record/", record_form(reason=reason)
    )

    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == [str(ERROR_REASON_REQUIRED)]
    assert not ConsentRecord.objects.exists()


def test_an_unknown_purpose_is_refused(admin_client):
    profile = ProfileFactory()

    response = admin_client.post(
        f"/profiles/consent/{profile.external_id}/record/", record_form(purpose="telepathy")
    )

    assert "purpose" in response.context["form"].errors
    assert not ConsentRecord.objects.exists()


def test_the_history_shows_the_current_state_and_the_ledger_newest_first(admin_client):
    profile = ProfileFactory(name="王小明")
    older = grant(profile, at=NOW - datetime.timedelta(days=30))
    newer = grant(profile, at=NOW - datetime.timedelta(days=1), status=ConsentStatus.WITHDRAWN)

    response = admin_client.get(f"/profiles/consent/{profile.external_id}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert [r.pk for r in response.context["records"]] == [newer.pk, older.pk]
    email_marketing = next(
        row
        for row in response.context["overview"]
        if row["channel"] == "email" and row["purpose"] == "marketing"
    )
    assert email_marketing["state"].status == ConsentStatus.WITHDRAWN
    assert "王小明" in page
    assert "signup form" in page
    assert reverse("profiles:export", args=[profile.external_id]) in page
    assert reverse("profiles:erase", args=[profile.external_id]) in page
    assert "every segment whose rule looks at what they did" in page


def test_the_double_opt_in_button_shows_only_when_its_view_exists(admin_client):
    profile = ProfileFactory()
    try:
        expected = reverse("profiles:consent-opt-in", args=[profile.external_id])
    except NoReverseMatch:
        expected = None

    response = admin_client.get(f"/profiles/consent/{profile.external_id}/")

    assert response.context["opt_in_url"] == expected
    assert ('name="channel" value="email"' in response.content.decode()) == bool(expected)


def test_an_unknown_profile_is_not_found(admin_client):
    assert admin_client.get("/profiles/consent/nobody-here/").status_code == 404


def test_searching_an_exact_email_opens_the_history(admin_client):
    profile = ProfileFactory(email="li.na@example.com")

    response = admin_client.get("/profiles/consent/", {"q": "Li.Na@example.com"})

    assert response.status_code == 302
    assert response["Location"] == f"/profiles/consent/{profile.external_id}/"


def test_a_search_without_match_says_so(admin_client):
    ProfileFactory()

    response = admin_client.get("/profiles/consent/", {"q": "nobody@example.com"})

    assert response.context["results"] == []
    assert b'data-testid="no-results"' in response.content


def test_the_profile_page_shows_consent_and_links_admins_to_the_history(
    client, ops_user, consent_admin
):
    profile = ProfileFactory()
    grant(profile, at=NOW)
    history = f"/profiles/consent/{profile.external_id}/"

    client.force_login(ops_user)
    for_ops = client.get(f"/profiles/{profile.external_id}/")
    client.force_login(consent_admin)
    for_admin = client.get(f"/profiles/{profile.external_id}/")

    assert 'id="consent"' in for_ops.content.decode()
    assert "Granted" in for_ops.content.decode()
    assert history not in for_ops.content.decode()
    assert history in for_admin.content.decode()


def test_the_rates_report_counts_the_latest_consent_at_each_month_end():
    with time_machine.travel(NOW - datetime.timedelta(days=120), tick=False):
        first, second = ProfileFactory(), ProfileFactory()
    grant(first, at=NOW - datetime.timedelta(days=100))
    grant(second, at=NOW - datetime.timedelta(days=100))
    grant(second, at=NOW - datetime.timedelta(days=20), status=ConsentStatus.WITHDRAWN)
    grant(first, at=NOW - datetime.timedelta(days=100), channel="sms")

    with time_machine.travel(NOW, tick=False):
        rows = selectors.consent_rates(months=12)

    email = [row for row in rows if row["channel"] == "email"]
    sms = [row for row in rows if row["channel"] == "sms"]
    assert len(email) == len(sms) == 12
    assert email[-1]["at"] == NOW
    assert [row["granted"] for row in email[-5:]] == [0, 2, 2, 1, 1]
    assert [row["profiles"] for row in email[-5:]] == [2, 2, 2, 2, 2]
    assert email[-7]["profiles"] == 0  # before they signed up
    assert sms[-1]["granted"] == 1


def test_the_rates_figure_shows_percentages_per_channel():
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    rows = [
        {"at": at, "channel": "email", "granted": 1, "profiles": 4},
        {"at": at, "channel": "sms", "granted": 0, "profiles": 0},
    ]

    figure = charts.consent_rates_figure(rows, title="t", channel_labels={"email": "Email"})

    assert [trace.name for trace in figure.data] == ["Email", "sms"]
    assert list(figure.data[0].y) == [25.0]
    assert list(figure.data[1].y) == [0]


def test_the_report_page_draws_the_chart(admin_client):
    profile = ProfileFactory()
    grant(profile, at=NOW - datetime.timedelta(days=1))

    response = admin_client.get("/profiles/consent/report/")

    assert response.status_code == 200
    assert "plotly" in response.content.decode()
    assert {row["channel"] for row in response.context["latest"]} == {
        "email",
        "sms",
        "wechat",
        "wecom",
        "push",
    }
