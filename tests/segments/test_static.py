"""Static segments: lists filled from a CSV of external IDs or the profile filter."""

import io

import pytest
from django.core.exceptions import ValidationError

from segments.models import Segment, SegmentMembership, SegmentTransition
from segments.static_lists import (
    static_members_add_csv,
    static_members_add_filter,
    static_members_remove_all,
)
from tests.factories import ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db


def members(segment) -> set[str]:
    return set(
        SegmentMembership.objects.filter(segment=segment).values_list(
            "profile__external_id", flat=True
        )
    )


@pytest.fixture
def static(db):
    return Segment.objects.create(name="VIP 名单", slug="vip-list", kind=Segment.Kind.STATIC)


@pytest.fixture
def dynamic(db):
    rule = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}
    return Segment.objects.create(name="上海用户", slug="shanghai", rule=rule)


def test_a_csv_adds_the_known_ids_and_reports_bad_lines(static):
    ProfileFactory(external_id="a")
    ProfileFactory(external_id="客户-b")
    body = "\ufeffexternal_id\na\n\nnobody\n客户-b\n,note\n \n" + "x" * 200 + "\na\n"

    report = static_members_add_csv(segment=static, stream=io.BytesIO(body.encode("utf-8")))

    static.refresh_from_db()
    assert members(static) == {"a", "客户-b"}
    assert report.added == 2
    assert [(error.line, error.external_id) for error in report.errors] == [
        (4, "nobody"),
        (6, ""),
        (8, "x" * 40),
    ]
    assert report.error_count == 3
    assert (static.size, static.version, static.status) == (2, 1, Segment.Status.READY)
    assert set(
        SegmentTransition.objects.filter(segment=static, version=1, entered=True).values_list(
            "profile__external_id", flat=True
        )
    ) == {"a", "客户-b"}


def test_uploading_the_same_csv_again_adds_nothing(static):
    ProfileFactory(external_id="a")
    body = b"external_id\r\na\r\n"  # no BOM, Windows line ends

    static_members_add_csv(segment=static, stream=io.BytesIO(body))
    again = static_members_add_csv(segment=static, stream=io.BytesIO(body))

    static.refresh_from_db()
    assert again.added == 0
    assert (static.size, static.version) == (1, 1)
    assert SegmentTransition.objects.filter(segment=static).count() == 1


def test_a_second_csv_adds_a_new_version(static):
    ProfileFactory(external_id="a")
    ProfileFactory(external_id="b")

    static_members_add_csv(segment=static, stream=io.StringIO("external_id\na\n"))
    static_members_add_csv(segment=static, stream=io.StringIO("external_id\na\nb\n"))

    static.refresh_from_db()
    assert members(static) == {"a", "b"}
    assert (static.size, static.version) == (2, 2)
    assert (
        SegmentMembership.objects.get(segment=static, profile__external_id="b").version_added == 2
    )


@pytest.mark.parametrize(
    "body", [b"id\na\n", b"", "external_id\na\n".encode("utf-16")], ids=["header", "empty", "utf16"]
)
def test_a_file_without_the_header_or_not_utf8_is_refused(static, body):
    ProfileFactory(external_id="a")

    with pytest.raises(ValidationError):
        static_members_add_csv(segment=static, stream=io.BytesIO(body))

    assert members(static) == set()


def test_dynamic_segments_take_no_list(dynamic):
    ProfileFactory(external_id="a")

    with pytest.raises(ValidationError, match="dynamic"):
        static_members_add_csv(segment=dynamic, stream=io.StringIO("external_id\na\n"))
    with pytest.raises(ValidationError):
        static_members_add_filter(segment=dynamic, city="上海")
    with pytest.raises(ValidationError):
        static_members_remove_all(segment=dynamic)


def test_the_current_profile_filter_is_added(static):
    tag = TagFactory(slug="coffee")
    ProfileFactory(external_id="a", city="上海")
    ProfileTagFactory(profile=ProfileFactory(external_id="b", city="上海"), tag=tag)
    ProfileTagFactory(profile=ProfileFactory(external_id="c", city="北京"), tag=tag)

    added = static_members_add_filter(segment=static, city="上海", tag="coffee")
    again = static_members_add_filter(segment=static, city="上海")

    static.refresh_from_db()
    assert (added, again) == (1, 1)
    assert members(static) == {"a", "b"}
    assert (static.size, static.version) == (2, 2)


def test_remove_all_records_who_left(static):
    ProfileFactory(external_id="a", city="上海")
    static_members_add_filter(segment=static, city="上海")

    removed = static_members_remove_all(segment=static)

    static.refresh_from_db()
    assert removed == 1
    assert members(static) == set()
    assert (static.size, static.version) == (0, 2)
    assert SegmentTransition.objects.filter(segment=static, version=2, entered=False).count() == 1


def test_the_upload_page_reports_lines(ops_client, static):
    ProfileFactory(external_id="a")
    upload = io.BytesIO(b"external_id\na\nghost\n")
    upload.name = "list.csv"

    response = ops_client.post("/segments/vip-list/static/upload/", {"file": upload}, follow=True)

    page = response.content.decode()
    assert members(static) == {"a"}
    assert "ghost" in page
    assert "Line 3" in page


def test_the_filter_form_adds_profiles(ops_client, static):
    ProfileFactory(external_id="a", city="上海")

    response = ops_client.post("/segments/vip-list/static/add-filter/", {"city": "上海"})

    assert response["Location"] == "/segments/vip-list/"
    assert members(static) == {"a"}


def test_the_forms_refuse_a_dynamic_segment(ops_client, dynamic):
    ProfileFactory(external_id="a", city="上海")
    upload = io.BytesIO(b"external_id\na\n")
    upload.name = "list.csv"

    response = ops_client.post("/segments/shanghai/static/upload/", {"file": upload}, follow=True)
    ops_client.post("/segments/shanghai/static/add-filter/", {"city": "上海"})

    assert "dynamic segment" in response.content.decode()
    assert members(dynamic) == set()


def test_only_ops_staff_change_a_list(client, campaign_manager, static):
    client.force_login(campaign_manager)
    ProfileFactory(external_id="a", city="上海")

    response = client.post("/segments/vip-list/static/add-filter/", {"city": "上海"})

    assert response.status_code == 403
    assert members(static) == set()


def test_the_static_page_shows_the_list_forms(ops_client, static):
    page = ops_client.get("/segments/vip-list/").content.decode()

    assert "/segments/vip-list/static/upload/" in page
    assert "/segments/vip-list/static/add-filter/" in page
