"""Merging profiles: rows follow the kept profile, gaps are filled, the merge is recorded."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from profiles.models import Event, PrivacyRequest, Profile, ProfileMerge, ProfileTag
from profiles.services import merge
from profiles.services.merge import ERROR_MERGE_INTO_ITSELF, profile_merge
from tests.factories import (
    EventFactory,
    ProfileFactory,
    ProfileTagFactory,
    PurchaseFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


def tag_on(profile, tag, *, set_at: datetime.datetime, **fields) -> ProfileTag:
    with time_machine.travel(set_at, tick=False):
        return ProfileTagFactory(profile=profile, tag=tag, **fields)


@pytest.fixture
def source():
    return ProfileFactory(
        external_id="wx-123",
        email="li.lei@example.com",
        phone="+8613800138000",
        name="李雷",
        city="北京",
        region="北京",
        gender="male",
        traits={"membership": "silver", "pet": "cat"},
    )


@pytest.fixture
def target():
    return ProfileFactory(
        external_id="crm-9",
        email="lilei@example.cn",
        name="",
        city="",
        region="",
        traits={"membership": "gold"},
    )


def test_it_moves_events_tags_and_privacy_requests_and_deletes_the_source(source, target):
    EventFactory.create_batch(2, profile=source)
    PurchaseFactory(profile=source)
    EventFactory(profile=target)
    ProfileTagFactory(profile=source)
    PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.EXPORT, profile=source, external_id=source.external_id
    )

    profile_merge(source=source, target=target)

    assert not Profile.objects.filter(external_id="wx-123").exists()
    assert Event.objects.filter(profile=target).count() == 4
    assert ProfileTag.objects.filter(profile=target).count() == 1
    request = PrivacyRequest.objects.get()
    assert request.profile == target
    assert request.external_id == "wx-123"


def test_a_tag_on_both_keeps_the_target_row_with_the_earliest_set_at(source, target):
    tag = TagFactory(slug="coupon-lover")
    tag_on(source, tag, set_at=NOW - datetime.timedelta(days=90), provenance="import")
    kept = tag_on(target, tag, set_at=NOW - datetime.timedelta(days=10), provenance="manual")
    later = TagFactory(slug="night-owl")
    tag_on(source, later, set_at=NOW - datetime.timedelta(days=1))
    tag_on(target, later, set_at=NOW - datetime.timedelta(days=20))

    profile_merge(source=source, target=target)

    rows = {row.tag.slug: row for row in ProfileTag.objects.filter(profile=target)}
    assert ProfileTag.objects.count() == 2
    assert rows["coupon-lover"].pk == kept.pk
    assert rows["coupon-lover"].provenance == "manual"
    assert rows["coupon-lover"].set_at == NOW - datetime.timedelta(days=90)
    assert rows["night-owl"].set_at == NOW - datetime.timedelta(days=20)


def test_it_fills_only_the_targets_empty_core_fields(source, target):
    profile_merge(source=source, target=target)

    target.refresh_from_db()
    assert target.external_id == "crm-9"
    assert target.email == "lilei@example.cn"
    assert target.name == "李雷"
    assert target.city == "北京"
    assert target.gender == "male"
    assert str(target.phone) == "+8613800138000"


def test_traits_are_merged_and_the_target_wins_on_conflicts(source, target):
    profile_merge(source=source, target=target)

    target.refresh_from_db()
    assert target.traits == {"membership": "gold", "pet": "cat"}


def test_the_merge_is_recorded_with_counts_and_a_snapshot_of_the_source(source, target):
    user = UserFactory(username="olivia-ops")
    EventFactory.create_batch(3, profile=source)
    ProfileTagFactory.create_batch(2, profile=source)

    record = profile_merge(source=source, target=target, user=user)

    assert record == ProfileMerge.objects.get()
    assert record.source_external_id == "wx-123"
    assert record.target == target
    assert record.target_external_id == "crm-9"
    assert record.merged_by == user
    moved = {"events": 3, "tags": 2, "privacy_requests": 0, "merges": 0}
    assert {name: record.moved[name] for name in moved} == moved  # other apps add their own
    assert record.source_snapshot["email"] == "li.lei@example.com"
    assert record.source_snapshot["phone"] == "+8613800138000"
    assert record.source_snapshot["traits"] == {"membership": "silver", "pet": "cat"}


def test_earlier_merges_into_the_source_follow_it_to_the_target(source, target):
    first = ProfileFactory(external_id="app-7")
    profile_merge(source=first, target=source)

    profile_merge(source=source, target=target)

    assert set(ProfileMerge.objects.values_list("source_external_id", "target_id")) == {
        ("app-7", target.pk),
        ("wx-123", target.pk),
    }


def test_merging_a_profile_into_itself_is_refused(source):
    EventFactory(profile=source)

    with pytest.raises(ValidationError) as refused:
        profile_merge(source=source, target=Profile.objects.get(pk=source.pk))

    assert refused.value.messages == [str(ERROR_MERGE_INTO_ITSELF)]
    assert Profile.objects.filter(pk=source.pk).exists()
    assert not ProfileMerge.objects.exists()


def test_a_registered_mover_runs_and_its_count_is_recorded(source, target, monkeypatch):
    seen = []

    def widgets_move(*, source, target):
        seen.append((source.external_id, target.external_id))
        return 7

    monkeypatch.setitem(merge.MOVERS, "widgets", widgets_move)

    record = profile_merge(source=source, target=target)

    assert seen == [("wx-123", "crm-9")]
    assert record.moved["widgets"] == 7


def test_a_failing_mover_undoes_the_whole_merge(source, target, monkeypatch):
    EventFactory(profile=source)

    def broken_move(*, source, target):
        raise RuntimeError("the consent ledger is locked")

    monkeypatch.setitem(merge.MOVERS, "broken", broken_move)

    with pytest.raises(RuntimeError):
        profile_merge(source=source, target=target)

    assert Profile.objects.filter(pk=source.pk).exists()
    assert Event.objects.get().profile_id == source.pk
    assert not ProfileMerge.objects.exists()
