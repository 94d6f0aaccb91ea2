"""The consent ledger: append-only records, the current state, and who may be messaged."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from profiles.models import (
    AppendOnlyError,
    ConsentRecord,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Profile,
)
from profiles.services.consent import (
    ERROR_REASON_REQUIRED,
    ConsentEntry,
    consent_granted_q,
    consent_record,
    consent_record_many,
    consent_sendable,
    consent_sendable_ids,
    profiling_allowed_q,
)
from profiles.services.merge import profile_merge
from segments.compiler import compile_rule
from segments.rules import parse_rule
from tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 1, 1, 9, 0, tzinfo=datetime.UTC)


def entry(profile, status, *, channel="email", purpose="marketing", at=None, **extra):
    return ConsentEntry(
        profile_id=profile.pk,
        channel=channel,
        purpose=purpose,
        status=status,
        source=extra.pop("source", ConsentSource.WEB_FORM),
        recorded_at=at,
        **extra,
    )


def test_the_latest_record_is_the_current_state():
    profile = ProfileFactory()
    consent_record(entry=entry(profile, "granted", at=T0))
    consent_record(entry=entry(profile, "withdrawn", at=T0 + datetime.timedelta(days=1)))

    state = ConsentState.objects.get(profile=profile, channel="email", purpose="marketing")

    assert state.status == ConsentStatus.WITHDRAWN
    assert ConsentRecord.objects.filter(profile=profile).count() == 2


def test_a_backdated_record_does_not_override_a_newer_one():
    profile = ProfileFactory()
    consent_record(entry=entry(profile, "withdrawn", at=T0 + datetime.timedelta(days=5)))

    consent_record(entry=entry(profile, "granted", at=T0))  # imported later, given earlier

    assert not consent_sendable(profiles=Profile.objects.all(), channel="email").exists()


def test_records_cannot_be_changed_or_deleted_through_the_app():
    record = consent_record(entry=entry(ProfileFactory(), "granted"))

    record.status = ConsentStatus.WITHDRAWN
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()

    assert ConsentRecord.objects.get(pk=record.pk).status == ConsentStatus.GRANTED


def test_an_invalid_entry_names_the_field_and_writes_nothing():
    profile = ProfileFactory()
    good = entry(profile, "granted")
    bad = entry(profile, "maybe", channel="pigeon")

    with pytest.raises(ValidationError) as caught:
        consent_record_many(entries=[good, bad])

    assert set(caught.value.message_dict) == {"channel", "status"}
    assert "pigeon" in caught.value.message_dict["channel"][0]
    assert not ConsentRecord.objects.exists()


def test_an_admin_record_needs_a_reason():
    with pytest.raises(ValidationError) as caught:
        consent_record(entry=entry(ProfileFactory(), "granted", source=ConsentSource.ADMIN))

    assert caught.value.message_dict["reason"] == [str(ERROR_REASON_REQUIRED)]


def test_sendable_is_per_channel_and_purpose():
    email_only, sms_only, nothing = ProfileFactory(), ProfileFactory(), ProfileFactory()
    consent_record(entry=entry(email_only, "granted"))
    consent_record(entry=entry(sms_only, "granted", channel="sms"))
    consent_record(entry=entry(nothing, "granted", purpose="profiling"))

    email = consent_sendable(profiles=Profile.objects.all(), channel="email")
    ids = consent_sendable_ids(profile_ids=[email_only.pk, sms_only.pk, nothing.pk], channel="sms")

    assert list(email) == [email_only]
    assert ids == {sms_only.pk}


def test_a_consent_rule_condition_selects_profiles_with_a_grant():
    granted, withdrawn, unknown = ProfileFactory(), ProfileFactory(), ProfileFactory()
    consent_record(entry=entry(granted, "granted"))
    consent_record(entry=entry(withdrawn, "granted", at=T0))
    consent_record(entry=entry(withdrawn, "withdrawn"))

    rule = parse_rule({"consent": "email", "op": "granted"})

    assert list(Profile.objects.filter(compile_rule(rule))) == [granted]
    assert unknown not in Profile.objects.filter(compile_rule(rule))


def test_profiles_that_withdrew_profiling_are_left_out_of_behaviour_rules_only():
    shopper, private = ProfileFactory(city="上海"), ProfileFactory(city="上海")
    for profile in (shopper, private):
        EventFactory(profile=profile, name="purchase", occurred_at=timezone.now())
    consent_record(entry=entry(private, "withdrawn", purpose="profiling"))

    behaviour = parse_rule({"event": "purchase", "within_days": 30, "count": {"gte": 1}})
    declared = parse_rule({"attr": "city", "op": "eq", "value": "上海"})

    assert list(Profile.objects.filter(compile_rule(behaviour))) == [shopper]
    assert set(Profile.objects.filter(compile_rule(declared))) == {shopper, private}
    assert private not in Profile.objects.filter(profiling_allowed_q())
    assert list(Profile.objects.filter(profiling_allowed_q(correlated=False))) == [shopper]


def test_a_merge_moves_consent_records_and_the_latest_wins():
    kept, merged = ProfileFactory(), ProfileFactory()
    consent_record(entry=entry(kept, "granted", at=T0))
    consent_record(entry=entry(merged, "withdrawn", at=T0 + datetime.timedelta(hours=1)))

    profile_merge(source=merged, target=kept)

    assert ConsentRecord.objects.filter(profile=kept).count() == 2
    assert ConsentState.objects.get(profile=kept).status == ConsentStatus.WITHDRAWN


class ConsentHistoryProperty(TestCase):
    """Over random histories, "may we send?" always agrees with "the latest row says granted"."""

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.integers(0, 2),  # profile
                st.sampled_from(["email", "sms"]),
                st.sampled_from(["marketing", "profiling"]),
                st.sampled_from(["granted", "withdrawn", "denied"]),
                st.integers(0, 5),  # day: ties happen, then the later id wins
            ),
            max_size=25,
        ),
        st.integers(1, 4),
    )
    def test_sendable_agrees_with_the_latest_row(self, history, batch):
        profiles = [ProfileFactory() for _ in range(3)]
        entries = [
            entry(
                profiles[p],
                status,
                channel=channel,
                purpose=purpose,
                at=T0 + datetime.timedelta(days=day),
            )
            for p, channel, purpose, status, day in history
        ]
        for start in range(0, len(entries), batch):  # recorded in batches of random size
            consent_record_many(entries=entries[start : start + batch])

        for channel in ("email", "sms"):
            for purpose in ("marketing", "profiling"):
                latest = {}
                for record in ConsentRecord.objects.filter(channel=channel, purpose=purpose):
                    key = (record.recorded_at, record.pk)
                    if record.profile_id not in latest or key > latest[record.profile_id][0]:
                        latest[record.profile_id] = (key, record.status)
                expected = {pk for pk, (_key, status) in latest.items() if status == "granted"}
                queried = set(
                    Profile.objects.filter(
                        consent_granted_q(channel=channel, purpose=purpose)
                    ).values_list("pk", flat=True)
                )
                ids = consent_sendable_ids(
                    profile_ids=[p.pk for p in profiles], channel=channel, purpose=purpose
                )
                assert queried == expected == ids
