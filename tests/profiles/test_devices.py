"""Push devices of profiles: the API, the CSV import, the 360° page, export, erasure and merges."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from profiles import ingest
from profiles.ingest import service as ingest_service
from profiles.models import Device, Profile
from profiles.services.devices import (
    ERROR_DEVICE_PARTIAL,
    ERROR_DEVICE_PLATFORM,
    ERROR_DEVICE_PROVIDER,
    ERROR_DEVICE_TOKEN,
    DeviceEntry,
    device_register,
    devices_newest,
)
from profiles.services.merge import profile_merge
from profiles.services.privacy import profile_erase, profile_export
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

FCM_TOKEN = "cXgT0k3n:APA91bH-example_token.value"


def devices_url(external_id: str) -> str:
    return f"/api/v1/profiles/{external_id}/devices/"


def tokens(profile) -> set[tuple[str, str, str]]:
    return set(profile.devices.values_list("provider", "platform", "token"))


@pytest.fixture
def api(ops_user):
    client = APIClient()
    client.force_login(ops_user)
    return client


# --------------------------------------------------------------------------- API


def test_a_device_is_registered_through_the_api_and_listed_newest_first(api):
    profile = ProfileFactory(external_id="crm-1")
    body = {"provider": "fcm", "platform": "android", "token": FCM_TOKEN}

    first = api.post(devices_url("crm-1"), body, format="json")
    second = api.post(
        devices_url("crm-1"),
        {"provider": "jpush", "platform": "harmony", "token": "1a0018970a8a3c5f"},
        format="json",
    )
    listed = api.get(devices_url("crm-1"))

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["token"] == FCM_TOKEN
    assert [row["provider"] for row in listed.json()] == ["jpush", "fcm"]
    assert tokens(profile) == {
        ("fcm", "android", FCM_TOKEN),
        ("jpush", "harmony", "1a0018970a8a3c5f"),
    }


def test_a_token_registered_again_moves_to_the_new_profile(api):
    old, new = ProfileFactory(external_id="old"), ProfileFactory(external_id="new")
    api.post(
        devices_url("old"),
        {"provider": "fcm", "platform": "android", "token": FCM_TOKEN},
        format="json",
    )

    body = {"provider": "fcm", "platform": "ios", "token": FCM_TOKEN}

    response = api.post(devices_url("new"), body, format="json")

    assert response.status_code == 200
    assert tokens(old) == set()
    assert tokens(new) == {("fcm", "ios", FCM_TOKEN)}
    assert Device.objects.count() == 1


def test_the_same_token_under_another_provider_is_another_device(api):
    profile = ProfileFactory(external_id="crm-1")

    for provider in ("fcm", "jpush"):
        api.post(
            devices_url("crm-1"),
            {"provider": provider, "platform": "android", "token": "same"},
            format="json",
        )

    assert len(tokens(profile)) == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"provider": "apns", "platform": "ios", "token": "t"}, "provider", "not a valid choice"),
        ({"provider": "fcm", "platform": "tv", "token": "t"}, "platform", "not a valid choice"),
        ({"provider": "fcm", "platform": "ios", "token": "a b"}, "token", "no spaces"),
        ({"provider": "fcm", "platform": "ios", "token": "a/b"}, "token", "no spaces"),
        ({"provider": "fcm", "platform": "ios", "token": "x" * 241}, "token", "240"),
        ({"provider": "fcm", "platform": "ios"}, "token", "required"),
    ],
)
def test_a_bad_device_is_refused_naming_the_field(api, body, field, message):
    ProfileFactory(external_id="crm-1")

    response = api.post(devices_url("crm-1"), body, format="json")

    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert not Device.objects.exists()


def test_a_device_is_removed_by_provider_and_token_of_its_own_profile_only(api):
    profile, other = ProfileFactory(external_id="crm-1"), ProfileFactory(external_id="crm-2")
    entry = DeviceEntry(provider="fcm", platform="android", token=FCM_TOKEN)
    device_register(profile=profile, entry=entry)

    elsewhere = api.delete(f"{devices_url(other.external_id)}fcm:{FCM_TOKEN}/")
    removed = api.delete(f"{devices_url('crm-1')}fcm:{FCM_TOKEN}/")
    again = api.delete(f"{devices_url('crm-1')}fcm:{FCM_TOKEN}/")

    assert (elsewhere.status_code, removed.status_code, again.status_code) == (404, 204, 404)
    assert not Device.objects.exists()


def test_devices_of_an_unknown_profile_are_not_found(api):
    response = api.post(
        devices_url("nobody"), {"provider": "fcm", "platform": "web", "token": "t"}, format="json"
    )

    assert response.status_code == 404


def test_only_ops_register_devices_and_every_role_reads_them(client, campaign_manager):
    ProfileFactory(external_id="crm-1")
    manager = APIClient()
    manager.force_login(campaign_manager)

    written = manager.post(
        devices_url("crm-1"), {"provider": "fcm", "platform": "web", "token": "t"}, format="json"
    )
    read = manager.get(devices_url("crm-1"))

    assert (written.status_code, read.status_code) == (403, 200)


def test_the_schema_describes_the_device_endpoints(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()

    paths = schema["paths"]
    assert set(paths["/api/v1/profiles/{profile_external_id}/devices/"]) == {"get", "post"}
    assert set(paths["/api/v1/profiles/{profile_external_id}/devices/{device}/"]) == {"delete"}
    assert {"provider", "platform", "token"} <= set(
        schema["components"]["schemas"]["DeviceIn"]["properties"]
    )


# --------------------------------------------------------------------------- CSV import

DEVICES_CSV = (
    "external_id,name,device_token,device_platform,device_provider\n"
    "c-1,李娜,tok-a,android,fcm\n"
    "c-2,王伟,tok-b,ios,fcm\n"
    "c-2,王伟,1a0018970a8a3c5f,harmony,JPush\n"
    "c-3,赵六,,,\n"
    "c-4,钱七,tok-d,,fcm\n"
    "c-5,孙八,tok-e,android,apns\n"
    "c-6,周九,,android,\n"
    "c-7,吴十,tok a,android,fcm\n"
    "c-8,郑一,tok-a,web,fcm\n"
)


def run_import(tmp_path, text: str) -> str:
    path = tmp_path / "profiles.csv"
    path.write_text(text, encoding="utf-8")
    err = io.StringIO()
    call_command("import_profiles", str(path), "--no-progress", stdout=io.StringIO(), stderr=err)
    return err.getvalue()


def test_the_import_registers_devices_and_reports_bad_device_cells_by_line(tmp_path):
    err = run_import(tmp_path, DEVICES_CSV)

    devices = set(Device.objects.values_list("profile__external_id", "provider", "token"))
    assert devices == {
        ("c-8", "fcm", "tok-a"),  # registered again on a later row: it moved
        ("c-2", "fcm", "tok-b"),
        ("c-2", "jpush", "1a0018970a8a3c5f"),
    }
    platforms = "android, ios, harmony, web"
    assert f"line 6: {ERROR_DEVICE_PLATFORM.format(value='', choices=platforms)}" in err
    assert f"line 7: {ERROR_DEVICE_PROVIDER.format(value='apns', choices='fcm, jpush')}" in err
    assert f"line 8: {ERROR_DEVICE_PARTIAL}" in err
    assert f"line 9: {ERROR_DEVICE_TOKEN.format(limit=240)}" in err
    assert Profile.objects.get(external_id="c-3").traits == {}  # device columns are no traits
    assert "device_token" not in Profile.objects.get(external_id="c-1").traits


def test_importing_the_devices_again_changes_no_device(tmp_path):
    run_import(tmp_path, DEVICES_CSV)
    before = set(Device.objects.values_list("pk", "profile_id", "provider", "platform", "token"))

    run_import(tmp_path, DEVICES_CSV)

    after = set(Device.objects.values_list("pk", "profile_id", "provider", "platform", "token"))
    assert after == before


def test_devices_of_many_batches_reach_their_profiles(monkeypatch):
    monkeypatch.setattr(ingest_service, "BATCH_SIZE", 2)
    rows = [
        (line, {"external_id": f"p-{line}", "device_token": f"t-{line}",
                "device_platform": "android", "device_provider": "jpush"})
        for line in range(2, 9)
    ]  # fmt: skip

    report = ingest.profiles_ingest(rows=rows)

    assert report.created == 7
    assert dict(Device.objects.values_list("token", "profile__external_id")) == {
        f"t-{line}": f"p-{line}" for line in range(2, 9)
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="writer lanes run on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_devices_reach_their_profiles_when_batches_are_written_on_lanes(monkeypatch):
    monkeypatch.setattr(ingest_service, "BATCH_SIZE", 3)
    rows = [
        (line, {"external_id": f"p-{line}", "device_token": f"t-{line}",
                "device_platform": "ios", "device_provider": "fcm"})
        for line in range(2, 20)
    ]  # fmt: skip

    report = ingest.profiles_ingest(rows=rows, lanes=2)

    assert report.created == 18
    assert Device.objects.filter(profile__external_id__startswith="p-").count() == 18


# --------------------------------------------------------------------------- elsewhere


@pytest.fixture
def phone_owner():
    profile = ProfileFactory(external_id="crm-42")
    device_register(
        profile=profile, entry=DeviceEntry(provider="fcm", platform="android", token=FCM_TOKEN)
    )
    return profile


def test_the_profile_page_lists_its_devices(client, ops_user, phone_owner):
    client.force_login(ops_user)

    page = client.get(f"/profiles/{phone_owner.external_id}/").content.decode()

    assert 'data-testid="profile-devices"' in page
    assert FCM_TOKEN in page
    assert "Firebase Cloud Messaging" in page


def test_the_data_subject_export_holds_the_devices(phone_owner, consent_admin):
    data = profile_export(profile=phone_owner, user=consent_admin)

    assert [(d["provider"], d["platform"], d["token"]) for d in data["devices"]] == [
        ("fcm", "android", FCM_TOKEN)
    ]


def test_erasure_deletes_the_devices(phone_owner, consent_admin):
    profile_erase(profile=phone_owner, user=consent_admin, reason="ticket 9")

    assert not Device.objects.exists()


def test_deleting_a_profile_deletes_its_devices(phone_owner):
    phone_owner.delete()

    assert not Device.objects.exists()


def test_a_merge_gives_the_duplicates_devices_to_the_kept_profile(phone_owner, ops_user):
    kept = ProfileFactory(external_id="kept")

    merge = profile_merge(source=phone_owner, target=kept, user=ops_user)

    assert merge.moved["devices"] == 1
    assert tokens(kept) == {("fcm", "android", FCM_TOKEN)}


def test_each_profile_newest_device_is_the_one_seen_last(phone_owner):
    device_register(
        profile=phone_owner,
        entry=DeviceEntry(provider="jpush", platform="android", token="newer"),
    )
    other = ProfileFactory()

    newest = devices_newest(profile_ids=[phone_owner.pk, other.pk])

    assert {pk: d.token for pk, d in newest.items()} == {phone_owner.pk: "newer"}
