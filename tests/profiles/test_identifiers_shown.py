"""WeChat and WeCom identifiers through the API, the 360° page, the search, exports and privacy."""

import csv
import io

import pytest
from rest_framework.test import APIClient

from profiles.ingest.identity import ERROR_IDENTIFIER_TAKEN
from profiles.models import Profile
from profiles.services.privacy import profile_erase, profile_export
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

OPENID = "oAbCdEfGhIjKlMnOpQrStUvW1234"
UNIONID = "oUnIoNaBcDeFgHiJkLmNoPqRs5678"
WECOM = "wmXyZ0123456789abcdef"
IDENTIFIED = {"wechat_openid": OPENID, "wechat_unionid": UNIONID, "wecom_external_userid": WECOM}


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_the_api_upserts_identifiers_and_shows_them_in_full_to_consent_admins(
    ops_user, consent_admin
):
    written = api_client(ops_user).post(
        "/api/v1/profiles/", {"external_id": "c-1", **IDENTIFIED}, format="json"
    )

    shown = api_client(consent_admin).get("/api/v1/profiles/c-1/").json()
    assert written.status_code in (200, 201)
    assert {name: shown[name] for name in IDENTIFIED} == IDENTIFIED


def test_the_api_masks_identifiers_for_other_roles(ops_user):
    ProfileFactory(external_id="c-1", **IDENTIFIED)

    shown = api_client(ops_user).get("/api/v1/profiles/c-1/").json()

    assert shown["wechat_openid"] == "oAbC***1234"
    assert shown["wechat_unionid"] == "oUnI***5678"
    assert shown["wecom_external_userid"] == "wmXy***cdef"


def test_the_api_refuses_a_unionid_of_another_profile_with_a_400_naming_it(ops_user):
    ProfileFactory(external_id="M-9", wechat_unionid=UNIONID)

    response = api_client(ops_user).post(
        "/api/v1/profiles/", {"external_id": "c-1", "wechat_unionid": UNIONID}, format="json"
    )

    assert response.status_code == 400
    expected = ERROR_IDENTIFIER_TAKEN.format(column="wechat_unionid", value=UNIONID, owner="M-9")
    assert expected in str(response.json())
    assert not Profile.objects.filter(external_id="c-1").exists()


def test_the_api_refuses_a_malformed_identifier_by_its_field(ops_user):
    response = api_client(ops_user).post(
        "/api/v1/profiles/", {"external_id": "c-1", "wechat_openid": "not an id!"}, format="json"
    )

    assert response.status_code == 400
    assert "wechat_openid" in response.json()


def test_the_events_api_takes_events_named_by_unionid_alone(ops_user):
    profile = ProfileFactory(wechat_unionid=UNIONID)

    response = api_client(ops_user).post(
        "/api/v1/events/",
        [{"wechat_unionid": UNIONID, "name": "subscribe", "occurred_at": "2025-03-01"}],
        format="json",
    )

    assert response.status_code in (200, 201), response.content
    assert response.json()["created"] == 1
    assert profile.events.count() == 1


def test_the_360_page_shows_identifiers_masked_for_ops(ops_client):
    ProfileFactory(external_id="c-1", **IDENTIFIED)

    page = ops_client.get("/profiles/c-1/").content.decode()

    assert "oAbC***1234" in page and "wmXy***cdef" in page
    assert OPENID not in page and UNIONID not in page


def test_the_360_page_shows_identifiers_in_full_to_consent_admins(client, consent_admin):
    ProfileFactory(external_id="c-1", **IDENTIFIED)
    client.force_login(consent_admin)

    page = client.get("/profiles/c-1/").content.decode()

    assert OPENID in page and UNIONID in page and WECOM in page


def test_the_search_box_finds_a_profile_by_an_exact_identifier(ops_client):
    ProfileFactory(external_id="c-1", name="李娜", **IDENTIFIED)
    ProfileFactory(external_id="c-2", name="王伟")

    page = ops_client.get("/profiles/", {"q": WECOM}).content.decode()

    assert "李娜" in page and "王伟" not in page


def test_the_profile_export_masks_identifiers_for_ops(ops_client):
    ProfileFactory(external_id="c-1", **IDENTIFIED)

    response = ops_client.get("/exports/profiles.csv")

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows[0]["wechat_openid"] == "oAbC***1234"
    assert rows[0]["wecom_external_userid"] == "wmXy***cdef"


def test_the_data_subject_export_holds_the_identifiers(consent_admin):
    profile = ProfileFactory(**IDENTIFIED)

    data = profile_export(profile=profile, user=consent_admin, reason="ticket 1")

    assert {name: data["profile"][name] for name in IDENTIFIED} == IDENTIFIED


def test_erasure_clears_the_identifiers_and_frees_the_unionid(consent_admin):
    profile = ProfileFactory(**IDENTIFIED)

    profile_erase(profile=profile, user=consent_admin, reason="ticket 2")

    profile.refresh_from_db()
    assert [getattr(profile, name) for name in IDENTIFIED] == ["", "", ""]
    assert ProfileFactory(wechat_unionid=UNIONID).pk != profile.pk
