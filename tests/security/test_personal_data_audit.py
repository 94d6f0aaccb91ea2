"""The audit trail records every read of personal data: API reads of profiles, events and
consents, and every bulk download; consent evidence is shown in the API to consent admins only,
as on the screens."""

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from profiles.audit import KIND_BULK_EXPORT, KIND_LIST, KIND_VIEW
from profiles.services.consent import ConsentEntry, consent_record
from tests.campaigns.delivery_builders import segment_with
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

EVIDENCE = ("evidence_ip", "evidence_user_agent", "evidence", "reason")


def _accesses(**data) -> list[dict]:
    entries = LogEntry.objects.filter(action=LogEntry.Action.ACCESS).order_by("pk")
    return [
        entry.additional_data
        for entry in entries
        if all((entry.additional_data or {}).get(key) == value for key, value in data.items())
    ]


def _granted(profile):
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status="granted",
            source="admin",
            evidence_ip="203.0.113.9",
            evidence_user_agent="Mozilla/5.0",
            evidence="Paper form",
            reason="Signed at the store",
        )
    )


def test_an_api_read_of_a_profile_is_in_the_audit_trail(client, ops_user):
    profile = ProfileFactory(external_id="crm-7")
    client.force_login(ops_user)

    client.get(reverse("api:profiles:profile-detail", args=["crm-7"]))

    [entry] = LogEntry.objects.filter(action=LogEntry.Action.ACCESS)
    assert entry.actor == ops_user
    assert entry.additional_data["profile_id"] == profile.pk
    assert entry.additional_data["kind"] == KIND_VIEW


def test_an_api_list_of_profiles_records_each_profile_it_showed(client, ops_user):
    profiles = ProfileFactory.create_batch(3)
    client.force_login(ops_user)

    client.get(reverse("api:profiles:profile-list"), {"page_size": 2})

    listed = _accesses(kind=KIND_LIST)
    assert sorted(e["profile_id"] for e in listed) == sorted(p.pk for p in profiles[1:])
    assert LogEntry.objects.filter(actor=ops_user).count() == 2


def test_an_api_list_of_events_and_of_consents_records_their_profiles(client, campaign_manager):
    first, second = ProfileFactory(), ProfileFactory()
    EventFactory(profile=first)
    _granted(second)
    client.force_login(campaign_manager)

    client.get(reverse("api:profiles:event-list"))
    client.get(reverse("api:profiles:consent-list"))

    assert {e["profile_id"] for e in _accesses(kind=KIND_LIST)} == {first.pk, second.pk}


def test_a_member_csv_download_is_in_the_audit_trail(client, ops_user):
    segment = segment_with(ProfileFactory.create_batch(3), slug="buyers")
    client.force_login(ops_user)

    response = client.get(reverse("segments:members-csv", args=["buyers"]))
    b"".join(response.streaming_content)

    [entry] = LogEntry.objects.filter(action=LogEntry.Action.ACCESS)
    assert entry.actor == ops_user
    assert entry.additional_data["kind"] == KIND_BULK_EXPORT
    assert entry.additional_data["rows"] == 3
    assert entry.additional_data["what"] == f"segment {segment.slug} members (CSV)"
    assert "no-store" in response["Cache-Control"]


def test_the_audit_page_lists_api_reads_and_downloads(client, ops_user, consent_admin):
    ProfileFactory(external_id="crm-7")
    segment_with(ProfileFactory.create_batch(2), slug="buyers")
    client.force_login(ops_user)
    client.get(reverse("api:profiles:profile-list"))
    b"".join(client.get(reverse("segments:members-csv", args=["buyers"])).streaming_content)
    client.force_login(consent_admin)

    listed = client.get("/profiles/consent/audit/", {"action": KIND_LIST})
    downloads = client.get("/profiles/consent/audit/", {"action": KIND_BULK_EXPORT})

    assert len(listed.context["rows"]) == 3
    assert len(downloads.context["rows"]) == 1
    assert "buyers" in downloads.content.decode()


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager"])
def test_consent_evidence_in_the_api_is_hidden_from_other_roles(client, request, persona):
    _granted(ProfileFactory())
    client.force_login(request.getfixturevalue(persona))

    [record] = client.get(reverse("api:profiles:consent-list")).json()["results"]

    assert {field: record[field] for field in EVIDENCE} == dict.fromkeys(EVIDENCE)
    assert record["status"] == "granted"


def test_consent_admins_see_the_evidence_in_the_api(client, consent_admin):
    _granted(ProfileFactory())
    client.force_login(consent_admin)

    [record] = client.get(reverse("api:profiles:consent-list")).json()["results"]

    assert record["evidence_ip"] == "203.0.113.9"
    assert record["evidence"] == "Paper form"
    assert record["reason"] == "Signed at the store"
