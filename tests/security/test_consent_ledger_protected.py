"""The consent ledger outlives every delete: the ORM and the admin refuse to delete a profile that
has consent records, PostgreSQL refuses to change or delete a record (a merge may only move
records to the kept profile), and erasure keeps every record."""

import pytest
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.db.utils import DatabaseError

from profiles.models import LEDGER_FIXED_FIELDS, ConsentRecord, ConsentStatus, Profile
from profiles.services.consent import ConsentEntry, consent_current, consent_record
from profiles.services.merge import profile_merge
from profiles.services.privacy import profile_erase
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the ledger's triggers are PostgreSQL's"
)


def _recorded(profile, status="granted", channel="email"):
    return consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel=channel,
            purpose="marketing",
            status=status,
            source="web_form",
            evidence_ip="203.0.113.9",
        )
    )


def test_deleting_a_profile_with_consent_records_is_refused():
    profile = ProfileFactory()
    _recorded(profile)

    with pytest.raises(ProtectedError):
        profile.delete()
    with pytest.raises(ProtectedError):
        Profile.objects.filter(pk=profile.pk).delete()

    assert ConsentRecord.objects.filter(profile=profile).count() == 1


def test_the_admin_cannot_delete_a_profile_with_consent_records(admin_client):
    profile = ProfileFactory()
    _recorded(profile)

    response = admin_client.post(f"/admin/profiles/profile/{profile.pk}/delete/", {"post": "yes"})

    assert response.status_code == 200
    assert Profile.objects.filter(pk=profile.pk).exists()
    assert ConsentRecord.objects.filter(profile=profile).count() == 1


def test_erasure_keeps_every_consent_record(consent_admin):
    profile = ProfileFactory(email="li.lei@example.com")
    kept = [_recorded(profile).pk, _recorded(profile, "withdrawn").pk]

    profile_erase(profile=profile, user=consent_admin, reason="ticket 3")

    assert (
        sorted(ConsentRecord.objects.filter(profile=profile).values_list("pk", flat=True)) == kept
    )


@postgresql_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE profiles_consentrecord SET status = 'withdrawn' WHERE id = %s",
        "UPDATE profiles_consentrecord SET evidence_ip = NULL WHERE id = %s",
        "DELETE FROM profiles_consentrecord WHERE id = %s",
    ],
)
def test_postgresql_refuses_to_change_or_delete_a_consent_record(statement):
    record = _recorded(ProfileFactory())

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [record.pk])

    stored = ConsentRecord.objects.get(pk=record.pk)
    assert (stored.status, stored.evidence_ip) == (ConsentStatus.GRANTED, "203.0.113.9")


@postgresql_only
def test_postgresql_refuses_a_queryset_update_of_the_ledger():
    record = _recorded(ProfileFactory())

    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentRecord.objects.filter(pk=record.pk).update(status=ConsentStatus.WITHDRAWN)

    assert ConsentRecord.objects.get(pk=record.pk).status == ConsentStatus.GRANTED


def test_a_merge_moves_the_ledger_to_the_kept_profile_untouched():
    source, target = ProfileFactory(), ProfileFactory()
    record = _recorded(source, channel="sms")

    profile_merge(source=source, target=target)

    moved = ConsentRecord.objects.get(pk=record.pk)
    assert moved.profile_id == target.pk
    assert (moved.status, moved.evidence_ip) == (ConsentStatus.GRANTED, "203.0.113.9")
    assert consent_current(profile=target)[("sms", "marketing")].status == ConsentStatus.GRANTED


def test_the_ledger_trigger_guards_every_column_but_the_profile_and_the_recorder():
    columns = {field.name for field in ConsentRecord._meta.fields}

    assert set(LEDGER_FIXED_FIELDS) == columns - {"profile", "recorded_by"}


def test_deleting_the_account_that_recorded_a_consent_keeps_the_record(consent_admin):
    profile = ProfileFactory()
    record = consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status="granted",
            source="admin",
            reason="paper form 12",
        ),
        recorded_by=consent_admin,
    )

    consent_admin.delete()

    stored = ConsentRecord.objects.get(pk=record.pk)
    assert stored.recorded_by_id is None
    assert stored.reason == "paper form 12"


@postgresql_only
def test_postgresql_refuses_to_name_another_recorder(ops_user, consent_admin):
    profile = ProfileFactory()
    record = consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status="granted",
            source="admin",
            reason="paper form 12",
        ),
        recorded_by=consent_admin,
    )

    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentRecord.objects.filter(pk=record.pk).update(recorded_by=ops_user)

    assert ConsentRecord.objects.get(pk=record.pk).recorded_by_id == consent_admin.pk
