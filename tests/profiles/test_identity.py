"""Identity stitching: WeChat and WeCom identifiers find the profile a row or an event means."""

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from profiles.ingest import events_ingest, profiles_ingest
from profiles.ingest import service as ingest_service
from profiles.ingest.identity import ERROR_IDENTIFIER, ERROR_IDENTIFIER_TAKEN
from profiles.models import Event, Profile, ProfileMerge
from profiles.services.merge import profile_merge
from segments.compiler import compile_rule
from segments.rules import parse_rule
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

STORE_CSV = (
    "external_id,phone,name,wechat_unionid\n"
    "S-001,13812345678,李娜,oUnion-0001\n"
    "S-002,13912345678,王伟,\n"
)


def wechat_event(**fields) -> dict:
    return {
        "name": "subscribe", "occurred_at": "2025-03-01T10:00:00+08:00", "channel": "community",
        **fields,
    }  # fmt: skip


def ingest_events(*items: dict):
    return events_ingest(rows=list(enumerate(items)))


def ingest_profiles(*items: dict):
    return profiles_ingest(rows=list(enumerate(items)))


def import_store_file(tmp_path, text: str = STORE_CSV) -> None:
    path = tmp_path / "store.csv"
    path.write_text(text, encoding="utf-8")
    call_command("import_profiles", str(path))


def test_a_store_row_then_a_wechat_event_sharing_the_unionid_land_on_one_profile(tmp_path):
    import_store_file(tmp_path)

    report = ingest_events(wechat_event(wechat_unionid="oUnion-0001", wechat_openid="oOpen-1"))

    profile = Profile.objects.get(external_id="S-001")
    assert report.created == 1 and report.profiles_created == 0
    assert list(Event.objects.values_list("profile_id", flat=True)) == [profile.pk]
    assert profile.wechat_openid == "oOpen-1"
    assert str(profile.phone) == "+8613812345678"
    assert Profile.objects.count() == 2


def test_a_wechat_event_then_the_store_row_sharing_the_unionid_land_on_one_profile(tmp_path):
    first = ingest_events(wechat_event(wechat_unionid="oUnion-0001", wechat_openid="oOpen-1"))
    provisional = Profile.objects.get()

    import_store_file(tmp_path)

    profile = Profile.objects.get(external_id="S-001")
    assert first.profiles_created == 1
    assert provisional.external_id == "wechat-unionid:oUnion-0001"
    assert profile.pk == provisional.pk  # the provisional profile took the store's id
    assert (profile.wechat_unionid, profile.wechat_openid) == ("oUnion-0001", "oOpen-1")
    assert profile.name == "李娜"
    assert Event.objects.get().profile_id == profile.pk
    assert sorted(Profile.objects.values_list("external_id", flat=True)) == ["S-001", "S-002"]


def test_a_provisional_profile_is_merged_into_a_stored_profile_that_claims_its_unionid(tmp_path):
    stored = ProfileFactory(external_id="S-001", wechat_unionid="")
    ingest_events(wechat_event(wechat_unionid="oUnion-0001", wechat_openid="oOpen-1"))

    import_store_file(tmp_path)

    stored.refresh_from_db()
    assert not Profile.objects.filter(external_id__startswith="wechat-").exists()
    assert (stored.wechat_unionid, stored.wechat_openid) == ("oUnion-0001", "oOpen-1")
    assert Event.objects.get().profile_id == stored.pk
    assert ProfileMerge.objects.get().source_external_id == "wechat-unionid:oUnion-0001"


@pytest.mark.parametrize("identifier", ["wechat_unionid", "wechat_openid", "wecom_external_userid"])
def test_an_event_without_external_id_goes_to_the_profile_holding_its_identifier(identifier):
    profile = ProfileFactory(**{identifier: "id-42"})

    report = ingest_events(wechat_event(**{identifier: "id-42"}))

    assert report.created == 1 and report.profiles_created == 0 and not report.errors
    assert Event.objects.get().profile_id == profile.pk


def test_unknown_identifiers_make_one_provisional_profile_holding_them_all():
    report = ingest_events(
        wechat_event(wechat_openid="oOpen-9", wecom_external_userid="wmExt-9"),
        wechat_event(wechat_openid="oOpen-9", name="click_menu"),
        wechat_event(wecom_external_userid="wmExt-9", name="chat"),
    )

    profile = Profile.objects.get()
    assert report.created == 3 and report.profiles_created == 1
    assert profile.external_id == "wechat-openid:oOpen-9"
    assert (profile.wechat_openid, profile.wecom_external_userid) == ("oOpen-9", "wmExt-9")
    assert Event.objects.filter(profile=profile).count() == 3


def test_an_event_fills_identifiers_its_profile_lacks_but_never_replaces_one():
    profile = ProfileFactory(external_id="c-1", wechat_openid="oOpen-old")

    ingest_events(
        wechat_event(external_id="c-1", wechat_openid="oOpen-new", wechat_unionid="oUnion-7")
    )

    profile.refresh_from_db()
    assert (profile.wechat_openid, profile.wechat_unionid) == ("oOpen-old", "oUnion-7")


def test_reingesting_identified_events_adds_nothing():
    item = wechat_event(wechat_unionid="oUnion-0001")
    ingest_events(item)

    again = ingest_events(item)

    assert (again.created, again.unchanged, again.profiles_created) == (0, 1, 0)
    assert Event.objects.count() == 1 and Profile.objects.count() == 1


def test_an_identifier_of_another_real_profile_is_refused_naming_that_profile():
    ProfileFactory(external_id="M-999", wechat_unionid="oUnion-0001")

    profiles = ingest_profiles({"external_id": "S-001", "wechat_unionid": "oUnion-0001"})
    events = ingest_events(wechat_event(external_id="S-002", wechat_unionid="oUnion-0001"))

    expected = ERROR_IDENTIFIER_TAKEN.format(
        column="wechat_unionid", value="oUnion-0001", owner="M-999"
    )
    assert [error.message for error in profiles.errors] == [expected]
    assert [error.message for error in events.errors] == [expected]
    assert not Profile.objects.filter(external_id__in=["S-001", "S-002"]).exists()
    assert Event.objects.count() == 0


def test_two_rows_of_one_file_claiming_one_unionid_keep_the_first_and_refuse_the_second():
    report = ingest_profiles(
        {"external_id": "S-001", "wechat_unionid": "oUnion-0001"},
        {"external_id": "S-002", "wechat_unionid": "oUnion-0001"},
    )

    assert [error.line for error in report.errors] == [1]
    assert Profile.objects.get(wechat_unionid="oUnion-0001").external_id == "S-001"


def test_a_malformed_identifier_is_refused_by_its_column():
    report = ingest_profiles({"external_id": "S-001", "wechat_openid": "o pen/1"})

    assert [error.message for error in report.errors] == [
        ERROR_IDENTIFIER.format(column="wechat_openid", value="o pen/1")
    ]


def test_an_event_with_neither_external_id_nor_identifier_is_refused():
    report = ingest_events(wechat_event())

    assert report.errors[0].message.startswith("external_id is required, or one of")


def test_an_events_file_may_name_profiles_by_unionid_alone(tmp_path):
    profile = ProfileFactory(wechat_unionid="oUnion-0001")
    path = tmp_path / "wechat.csv"
    path.write_text(
        "wechat_unionid,name,occurred_at\noUnion-0001,subscribe,2025-03-01\n", encoding="utf-8"
    )

    call_command("import_events", str(path))

    assert Event.objects.get().profile_id == profile.pk


def test_the_unionid_is_unique_but_many_profiles_may_have_none():
    ProfileFactory(wechat_unionid="oUnion-0001")
    ProfileFactory(wechat_unionid="")
    ProfileFactory(wechat_unionid="")

    with pytest.raises(IntegrityError), transaction.atomic():
        ProfileFactory(wechat_unionid="oUnion-0001")


def test_a_merge_moves_the_unionid_to_the_kept_profile_and_keeps_the_kept_ones_identifiers():
    source = ProfileFactory(wechat_unionid="oUnion-0001", wechat_openid="oOpen-1")
    target = ProfileFactory(wechat_unionid="", wechat_openid="oOpen-2", wecom_external_userid="")
    source.wecom_external_userid = "wmExt-1"
    source.save()

    merge = profile_merge(source=source, target=target)

    target.refresh_from_db()
    assert (target.wechat_unionid, target.wechat_openid, target.wecom_external_userid) == (
        "oUnion-0001", "oOpen-2", "wmExt-1",
    )  # fmt: skip
    assert merge.source_snapshot["wechat_unionid"] == "oUnion-0001"
    assert merge.source_snapshot["wechat_openid"] == "oOpen-1"


@pytest.mark.django_db(transaction=True)
def test_events_on_writer_lanes_make_each_provisional_profile_once(monkeypatch):
    """On PostgreSQL the batches go to two lanes; later batches find the profiles made."""
    monkeypatch.setattr(ingest_service, "EVENT_BATCH_SIZE", 2)
    items = [wechat_event(wechat_openid=f"oOpen-{i % 3}", event_id=str(i)) for i in range(9)]

    report = events_ingest(rows=list(enumerate(items)), lanes=2)

    assert (report.created, report.profiles_created, report.errors) == (9, 3, [])
    assert Profile.objects.count() == 3
    assert all(profile.events.count() == 3 for profile in Profile.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_unionid_written_by_an_earlier_batch_on_a_lane_refuses_a_later_claim(monkeypatch):
    """On PostgreSQL each batch goes to a lane; stitching waits for the batch in flight."""
    monkeypatch.setattr(ingest_service, "BATCH_SIZE", 1)
    rows = [{"external_id": f"S-{i}", "wechat_unionid": "oUnion-0001"} for i in range(4)]

    report = profiles_ingest(rows=list(enumerate(rows)), lanes=2)

    assert [error.line for error in report.errors] == [1, 2, 3]
    assert Profile.objects.get().external_id == "S-0"


def test_segment_rules_can_ask_whether_a_profile_has_an_identifier():
    ProfileFactory(external_id="reachable", wechat_openid="oOpen-1")
    ProfileFactory(external_id="unreachable")

    rule = parse_rule({"attr": "wechat_openid", "op": "is_set"})

    found = Profile.objects.filter(compile_rule(rule)).values_list("external_id", flat=True)
    assert list(found) == ["reachable"]
