"""The consents API: everyone with a role reads the ledger, only consent admins append to it."""

import datetime
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error

from core.tokens import api_token_create
from profiles.api.serializers import ERROR_CONSENT_UNKNOWN_PROFILE
from profiles.models import ConsentRecord, ConsentSource, ConsentState, ConsentStatus
from profiles.services.consent import (
    ERROR_FUTURE,
    ERROR_REASON_REQUIRED,
    ConsentEntry,
    consent_record,
)
from tests.factories import ProfileFactory, UserFactory

URL = "/api/v1/consents/"
T0 = datetime.datetime(2025, 5, 1, 8, 0, tzinfo=datetime.UTC)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def given_records(profile, count: int, *, start=T0):
    return [
        consent_record(
            entry=ConsentEntry(
                profile_id=profile.pk,
                channel="email",
                purpose="marketing",
                status=ConsentStatus.GRANTED if i % 2 == 0 else ConsentStatus.WITHDRAWN,
                source=ConsentSource.WEB_FORM,
                recorded_at=start + datetime.timedelta(days=i),
            )
        )
        for i in range(count)
    ]


def body(external_id: str, **overrides) -> dict:
    return {
        "external_id": external_id,
        "channel": "sms",
        "purpose": "marketing",
        "status": "granted",
        "notice_version": "sms-terms-2",
        "evidence_ip": "203.0.113.7",
        "evidence": "短信回复 Y",
        **overrides,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager"])
def test_ops_staff_and_campaign_managers_read_but_cannot_append(persona, request):
    profile = ProfileFactory()
    given_records(profile, 1)
    client = api(request.getfixturevalue(persona))

    listed = client.get(URL)
    posted = client.post(URL, body(profile.external_id), format="json")

    assert listed.status_code == 200
    assert len(listed.json()["results"]) == 1
    assert posted.status_code == 403
    assert ConsentRecord.objects.count() == 1


@pytest.mark.django_db
def test_outsiders_cannot_read(outsider):
    assert api(outsider).get(URL).status_code == 403


@pytest.mark.django_db
def test_a_consent_admin_appends_a_record_with_source_api(consent_admin):
    profile = ProfileFactory()

    response = api(consent_admin).post(URL, body(profile.external_id), format="json")

    data = response.json()
    assert response.status_code == 201
    assert data["external_id"] == profile.external_id
    assert data["source"] == ConsentSource.API
    assert data["recorded_by"] == consent_admin.username
    assert data["evidence"] == "短信回复 Y"
    record = ConsentRecord.objects.get()
    assert record.recorded_by == consent_admin
    assert record.evidence_ip == "203.0.113.7"
    assert ConsentState.objects.get(profile=profile).status == ConsentStatus.GRANTED


@pytest.mark.django_db
def test_a_superuser_may_append():
    root = UserFactory(username="root", is_superuser=True)
    profile = ProfileFactory()

    response = api(root).post(
        URL, body(profile.external_id, recorded_at="2025-01-01"), format="json"
    )

    assert response.status_code == 201
    assert response.json()["recorded_at"].startswith("2025-01-01")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"external_id": "ghost"}, "external_id", str(ERROR_CONSENT_UNKNOWN_PROFILE)),
        ({"source": "admin", "reason": ""}, "reason", str(ERROR_REASON_REQUIRED)),
        ({"purpose": "telepathy"}, "purpose", "Unknown purpose “telepathy”"),
        ({"channel": "fax"}, "channel", None),
        ({"status": "maybe"}, "status", None),
        ({"recorded_at": "2999-01-01T00:00:00Z"}, "recorded_at", str(ERROR_FUTURE)[:30]),
        ({"recorded_at": "yesterday"}, "recorded_at", None),
        ({"evidence_ip": "not-an-ip"}, "evidence_ip", None),
        ({"notice_version": "x" * 101}, "notice_version", None),
        ({"recorded_at": "0001-01-01T00:00:00+05:00"}, "recorded_at", None),
    ],
)
def test_an_invalid_field_is_a_400_naming_it(consent_admin, overrides, field, message):
    profile = ProfileFactory()

    response = api(consent_admin).post(
        URL, {**body(profile.external_id), **overrides}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    if message:
        assert message in response.json()[field][0]
    assert not ConsentRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_ledger_is_append_only(consent_admin, method):
    profile = ProfileFactory()
    record = given_records(profile, 1)[0]
    client = api(consent_admin)

    on_list = getattr(client, method)(URL, {}, format="json")
    on_item = getattr(client, method)(f"{URL}{record.pk}/", {}, format="json")

    assert on_list.status_code == 405
    assert on_item.status_code == 404
    assert ConsentRecord.objects.get().status == ConsentStatus.GRANTED


@pytest.mark.django_db
def test_the_list_filters_and_pages_newest_first(ops_user):
    first, second = ProfileFactory(), ProfileFactory()
    records = given_records(first, 5)
    given_records(second, 2)
    client = api(ops_user)

    page = client.get(URL, {"external_id": first.external_id, "page_size": 2}).json()
    following = client.get(page["next"]).json()
    withdrawn = client.get(URL, {"external_id": first.external_id, "status": "withdrawn"}).json()
    ranged = client.get(
        URL,
        {
            "external_id": first.external_id,
            "recorded_after": (T0 + datetime.timedelta(days=1)).isoformat(),
            "recorded_before": (T0 + datetime.timedelta(days=3)).isoformat(),
        },
    ).json()
    by_source = client.get(URL, {"source": "api"}).json()

    ids = [r.pk for r in reversed(records)]
    assert [item["id"] for item in page["results"]] == ids[:2]
    assert [item["id"] for item in following["results"]] == ids[2:4]
    assert {item["status"] for item in withdrawn["results"]} == {"withdrawn"}
    assert len(withdrawn["results"]) == 2
    assert [item["recorded_at"][:10] for item in ranged["results"]] == ["2025-05-03", "2025-05-02"]
    assert by_source["results"] == []


@pytest.mark.django_db
def test_a_bad_filter_value_is_a_400(ops_user):
    response = api(ops_user).get(URL, {"channel": "fax"})

    assert response.status_code == 400
    assert "channel" in response.json()


# --------------------------------------------------------------------------- fuzzing

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema = schema.include(path_regex=r"^/api/v1/consents/")
schema.app = WSGIHandler()


@pytest.fixture
def admin_token(db):
    """Return the API token of a superuser, with a profile and a record for the fuzzer."""
    user = UserFactory(username="fuzzing-consent-admin", is_superuser=True, is_staff=True)
    given_records(ProfileFactory(external_id="P000001"), 1)
    return api_token_create(user=user)[1]


@pytest.fixture
def keep_the_test_connection():
    """Keep the test's database connection across WSGI requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_consent_request_makes_the_api_fail(case, admin_token, keep_the_test_connection):
    case.call_and_validate(
        headers={"Authorization": f"Token {admin_token}"}, checks=[not_a_server_error]
    )
