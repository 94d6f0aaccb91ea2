"""Hostile input gets a clear 4xx and writes nothing: deep JSON, NUL bytes, odd offsets, outages."""

import json
import socket
from urllib.parse import urlencode, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.inbound import sms_stop_record
from core.jsonlimits import ERROR_NUL, ERROR_TOO_DEEP, MAX_JSON_DEPTH
from flows.models import Flow
from profiles.api.views import EVENT_BATCH_MAX_BYTES
from profiles.models import ConsentRecord, Event, Profile
from profiles.services.consent_links import consent_preferences_url
from profiles.services.consent_optin import ERROR_SEND_FAILED
from profiles.views.public import MESSAGE_CONFIRMATION_IMPOSSIBLE, MESSAGE_CONFIRMATION_NOT_SENT
from segments.models import Segment
from segments.rules import RuleError, parse_rule
from segments.rules.errors import ERROR_OFFSET
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db

DEEP = 2_500
URLENCODED = "application/x-www-form-urlencoded"


def _deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_rule(depth: int) -> str:
    return '{"all": [' * depth + '{"attr": "city", "op": "eq", "value": "x"}' + "]}" * depth


@pytest.fixture
def api(db):
    client = APIClient()
    client.force_login(UserFactory(username="hostile-admin", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def ops_api(ops_user):
    client = APIClient()
    client.force_login(ops_user)
    return client


# --- JSON nested thousands deep --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/segments/", '{"name": "Deep", "rule": ' + _deep_rule(DEEP) + "}"),
        ("/api/v1/segments/", '{"name": "Deep", "rule": ' + _deep_list(DEEP) + "}"),
        ("/api/v1/events/", '[{"external_id": "P1", "name": "x", "properties": '
         + _deep_list(DEEP) + "}]"),
        ("/api/v1/events/", _deep_list(DEEP)),
        ("/api/v1/flows/", '{"name": "Deep", "slug": "deep", "definition": '
         + _deep_list(DEEP) + "}"),
        ("/api/v1/profiles/", '{"external_id": "P1", "traits": ' + _deep_list(DEEP) + "}"),
    ],
)  # fmt: skip
def test_json_nested_thousands_deep_is_a_400_that_writes_nothing(api, url, body):
    response = api.generic("POST", url, body, content_type="application/json")

    assert response.status_code == 400
    assert str(ERROR_TOO_DEEP.format(limit=MAX_JSON_DEPTH)) in json.dumps(
        response.json(), ensure_ascii=False
    )
    assert not Segment.objects.exists()
    assert not Event.objects.exists()
    assert not Flow.objects.exists()
    assert not Profile.objects.exists()


def test_a_nul_character_in_a_flow_definition_is_a_400_that_writes_nothing(api):
    steps = [{"key": "w\u0000", "kind": "wait", "duration": {"days": 1}, "name": "a\u0000"}]
    body = {"name": "Cart", "slug": "cart", "definition": {"steps": steps}}

    response = api.post("/api/v1/flows/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"definition": [str(ERROR_NUL)]}
    assert not Flow.objects.exists()


def test_a_rule_nested_deeply_in_the_segment_form_is_a_form_error(client, ops_user):
    client.force_login(ops_user)

    response = client.post(
        reverse("segments:create"), {"name": "Deep", "kind": "dynamic", "rule": _deep_rule(DEEP)}
    )

    assert response.status_code in (200, 400)
    assert not Segment.objects.exists()


# --- NUL bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/profiles/?q=%00",
        "/profiles/?city=%00&q=a",
        "/segments/%00/",
        "/segments/?q=%00",
        "/campaigns/%00/",
        "/campaigns/?status=%00",
        "/profiles/%00/",
        "/flows/%00/",
        "/api/v1/profiles/?city=%00",
        "/api/v1/segments/%00/",
        "/api/v1/profiles/%00/",
    ],
)
def test_a_nul_byte_in_a_path_or_query_is_a_clear_4xx(client, ops_user, url):
    client.force_login(ops_user)

    response = client.get(url)

    assert response.status_code in (400, 404)


@pytest.mark.parametrize("multipart", [False, True])
def test_a_nul_byte_in_a_posted_form_is_a_400(client, campaign_manager, multipart):
    client.force_login(campaign_manager)
    url = reverse("campaigns:winner", args=[campaign_make().slug])
    data = {"variant": "A\x00"}  # looked up in the database as it comes

    if multipart:
        response = client.post(url, data)
    else:
        response = client.post(url, urlencode(data), content_type=URLENCODED)

    assert response.status_code == 400


@pytest.mark.parametrize("field", ["include_segments", "exclude_segments"])
def test_a_nul_byte_in_a_segment_slug_of_the_campaign_api_is_a_400(api, field):
    response = api.post(
        "/api/v1/campaigns/",
        {"name": "Spring", "channel": "email", field: ["a\x00"]},
        format="json",
    )

    assert response.status_code == 400
    assert field in response.json()


def test_a_nul_byte_as_trigger_segment_of_the_campaign_api_is_a_400(api):
    response = api.post(
        "/api/v1/campaigns/",
        {"name": "Spring", "channel": "email", "trigger_segment": "\x00"},
        format="json",
    )

    assert response.status_code == 400


# --- rule date-times -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2025-01-01T00:00:00+16:00", "2025-01-01T00:00:00-23:59"])
def test_a_rule_offset_beyond_what_databases_store_is_refused(value):
    with pytest.raises(RuleError) as caught:
        parse_rule({"attr": "signup_at", "op": "gte", "value": value})

    assert caught.value.message == ERROR_OFFSET


def test_a_rule_offset_within_15_59_is_kept():
    rule = parse_rule({"attr": "signup_at", "op": "gte", "value": "2025-01-01T00:00:00+15:59"})

    assert rule is not None


def test_the_api_refuses_a_rule_offset_beyond_15_59(api):
    rule = {"attr": "signup_at", "op": "gte", "value": "2025-01-01T00:00:00+16:00"}

    response = api.post(
        "/api/v1/segments/", {"name": "Late", "slug": "late", "rule": rule}, format="json"
    )

    assert response.status_code == 400
    assert str(ERROR_OFFSET) in response.json()["rule"][0]
    assert not Segment.objects.exists()


# --- inbound SMS -----------------------------------------------------------------------------


def test_a_stop_reply_with_a_nul_byte_still_withdraws(client, settings):
    settings.SMS_INBOUND_SECRET = "s3cret"
    profile = ProfileFactory(phone="+8613800138000")

    response = client.post(
        reverse("campaigns:sms-inbound"),
        json.dumps({"from": "+8613800138000", "text": "STOP\u0000"}),
        content_type="application/json",
        headers={"X-Sms-Secret": "s3cret"},
    )

    assert response.status_code == 200
    assert response.json() == {"withdrawn": 1}
    record = ConsentRecord.objects.get(profile=profile)
    assert "\x00" not in record.evidence


def test_a_stop_record_keeps_evidence_every_database_stores():
    profile = ProfileFactory(phone="+8613800138001")

    assert sms_stop_record(phone="+8613800138001", text="\x00TD\x00") == 1
    assert ConsentRecord.objects.get(profile=profile).evidence == "TD"


# --- outages and configuration ---------------------------------------------------------------


@pytest.fixture
def mail_server_down(settings):
    """Send mail with Django's SMTP backend to a local port where no server listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return port


def test_an_opt_in_email_while_the_smtp_server_is_down_is_a_clear_error(
    client, consent_admin, mail_server_down
):
    profile = ProfileFactory(email="ann@example.com")
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:consent-opt-in", args=[profile.external_id]),
        {"channel": "email", "purpose": "marketing"},
        follow=True,
    )

    assert response.status_code == 200
    assert str(ERROR_SEND_FAILED) in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_a_preference_grant_while_the_smtp_server_is_down_says_the_confirmation_was_not_sent(
    client, mail_server_down
):
    profile = ProfileFactory(email="ann@example.com")
    url = urlsplit(consent_preferences_url(profile_id=profile.pk, channel="email")).path

    response = client.post(url, {"consent-sms-marketing": "1"})

    assert response.status_code == 200
    assert str(MESSAGE_CONFIRMATION_NOT_SENT) in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_a_preference_grant_for_a_profile_without_email_says_nobody_can_confirm(client):
    profile = ProfileFactory(email="", phone="+8613800138000")
    url = urlsplit(consent_preferences_url(profile_id=profile.pk, channel="sms")).path

    response = client.post(url, {"consent-email-marketing": "1"})

    assert response.status_code == 200
    assert str(MESSAGE_CONFIRMATION_IMPOSSIBLE) in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_the_mailgun_webhook_without_its_signing_key_is_a_clear_4xx(client, settings):
    settings.ANYMAIL = {}

    response = client.post(
        "/anymail/mailgun/tracking/", {"signature": "x"}, content_type="application/json"
    )

    assert 400 <= response.status_code < 500
    assert "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY" in response.json()["error"]


def test_check_deploy_warns_when_mail_goes_through_mailgun_without_its_signing_key(
    settings, capsys
):
    settings.ANYMAIL = {}
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"

    call_command("check", "--deploy", "--tag", "security")

    assert "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY" in capsys.readouterr().err


def test_check_deploy_is_quiet_about_mailgun_when_mail_goes_elsewhere(settings, capsys):
    settings.ANYMAIL = {}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

    call_command("check", "--deploy", "--tag", "security")

    assert "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY" not in capsys.readouterr().err


# --- event batches larger than Django's body limit -------------------------------------------


def test_an_event_batch_within_the_count_limit_but_over_2_5_mb_is_accepted(ops_api, settings):
    events = [
        {
            "external_id": f"P{i % 50}",
            "name": "view",
            "occurred_at": f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "properties": {"pad": "x" * 600, "i": i},
        }
        for i in range(5_000)
    ]
    body = json.dumps(events)
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = ops_api.generic("POST", "/api/v1/events/", body, content_type="application/json")

    assert response.status_code == 201, response.content[:300]
    assert response.json()["created"] == 5_000


def test_an_event_batch_over_its_size_limit_is_a_json_413(ops_api, settings):
    body = b"[" + b" " * (EVENT_BATCH_MAX_BYTES + 1) + b"]"

    response = ops_api.generic("POST", "/api/v1/events/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


# --- form sets -------------------------------------------------------------------------------


def test_a_huge_variant_count_in_the_campaign_editor_is_refused_at_once(
    client, campaign_manager, monkeypatch
):
    from campaigns.forms import VariantForm

    built = []
    original = VariantForm.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(VariantForm, "__init__", counting)
    client.force_login(campaign_manager)

    response = client.post(
        reverse("campaigns:create"),
        {"name": "Spring", "variants-TOTAL_FORMS": "9" * 30, "variants-INITIAL_FORMS": "0"},
    )

    assert response.status_code == 400
    assert len(built) <= 1001  # refused before building a form per claimed variant
