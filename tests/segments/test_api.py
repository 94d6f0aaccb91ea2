"""The segments API: CRUD by slug with rule checks, preview, evaluate, members, access, schema."""

import pytest
from rest_framework.test import APIClient

from segments.api.serializers import (
    ERROR_DELETE_REFERENCED,
    ERROR_RENAME_REFERENCED,
    ERROR_SLUG_RESERVED,
    ERROR_STATIC_EVALUATE,
    ERROR_STATIC_RULE,
)
from segments.models import Segment, SegmentMembership
from segments.services import segment_evaluate
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
PREVIEW = f"{SEGMENTS}preview/"
SHANGHAI = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}
BAD_OP = {"all": [{"attr": "city", "op": "equals", "value": "上海"}]}


def detail(slug: str) -> str:
    return f"{SEGMENTS}{slug}/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def api(ops_user):
    return client_for(ops_user)


@pytest.fixture
def queued(monkeypatch):
    """Record the segment ids handed to the evaluation task instead of running it."""
    calls = []
    monkeypatch.setattr("segments.api.views.segment_evaluate_task.delay", calls.append)
    return calls


@pytest.fixture
def shanghai(db):
    return Segment.objects.create(name="上海用户", slug="shanghai", rule=SHANGHAI)


@pytest.fixture
def people(db):
    for index in range(3):
        ProfileFactory(external_id=f"sh-{index}", city="上海")
    ProfileFactory(external_id="bj-0", city="北京")


# --------------------------------------------------------------------------- create / update


def test_creating_a_dynamic_segment_stores_it_and_queues_it_on_commit(
    api, queued, django_capture_on_commit_callbacks
):
    body = {"name": "上海用户", "slug": "shanghai", "description": "在上海", "rule": SHANGHAI}

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(SEGMENTS, body, format="json")

    assert response.status_code == 201
    segment = Segment.objects.get(slug="shanghai")
    assert response.json()["status"] == "queued"
    assert (segment.kind, segment.rule, segment.status) == ("dynamic", SHANGHAI, "queued")
    assert queued == [segment.pk]


def test_a_unicode_slug_is_accepted(api, queued):
    response = api.post(
        SEGMENTS, {"name": "高价值", "slug": "高价值", "rule": SHANGHAI}, format="json"
    )

    assert response.status_code == 201
    assert api.get(detail("高价值")).json()["name"] == "高价值"


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        (BAD_OP, "all[0].op"),
        ({"all": [{"attr": "city", "op": "eq", "value": "x"}, {"tag": "Bad Slug!", "op": "has"}]},
         "all[1].tag"),
        ({"any": []}, "any"),
        ({}, "rule"),
        ([], "rule"),
        ({"all": [{"segment": "nobody"}]}, "all[0].segment"),
    ],
)  # fmt: skip
def test_an_invalid_rule_is_refused_with_its_path_and_never_stored(api, queued, rule, path):
    response = api.post(SEGMENTS, {"name": "x", "slug": "x", "rule": rule}, format="json")

    assert response.status_code == 400
    [message] = response.json()["rule"]
    assert message.startswith(f"{path}: ")
    assert not Segment.objects.exists()
    assert queued == []


def test_updating_with_a_bad_rule_keeps_the_stored_rule(api, shanghai, queued):
    response = api.patch(detail("shanghai"), {"rule": BAD_OP}, format="json")

    assert response.status_code == 400
    assert response.json()["rule"][0].startswith("all[0].op: ")
    shanghai.refresh_from_db()
    assert shanghai.rule == SHANGHAI
    assert queued == []


def test_updating_a_rule_stores_it_and_queues_the_segment(
    api, shanghai, queued, django_capture_on_commit_callbacks
):
    beijing = {"all": [{"attr": "city", "op": "eq", "value": "北京"}]}

    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(
            detail("shanghai"), {"rule": beijing, "refresh_minutes": None}, format="json"
        )

    assert response.status_code == 200
    shanghai.refresh_from_db()
    assert (shanghai.rule, shanghai.refresh_minutes, shanghai.status) == (beijing, None, "queued")
    assert queued == [shanghai.pk]


def test_read_only_fields_are_ignored_on_write(api, shanghai, queued):
    response = api.patch(detail("shanghai"), {"size": 999, "version": 7}, format="json")

    assert response.status_code == 200
    shanghai.refresh_from_db()
    assert (shanghai.size, shanghai.version) == (0, 0)


def test_a_rule_referring_to_its_own_segment_is_refused(api, shanghai, queued):
    rule = {"all": [{"segment": "shanghai"}]}

    response = api.patch(detail("shanghai"), {"rule": rule}, format="json")

    assert response.status_code == 400
    assert response.json()["rule"][0].startswith("all[0].segment: ")


def test_a_circle_through_another_segment_is_refused(api, shanghai, queued):
    Segment.objects.create(name="b", slug="b", rule={"all": [{"segment": "shanghai"}]})

    response = api.patch(detail("shanghai"), {"rule": {"not": {"segment": "b"}}}, format="json")

    assert response.status_code == 400
    message = response.json()["rule"][0]
    assert message.startswith("not.segment: ")
    assert "shanghai" in message and "b" in message
    shanghai.refresh_from_db()
    assert shanghai.rule == SHANGHAI


def test_a_static_segment_takes_an_empty_rule_and_is_not_queued(api, queued):
    good = api.post(
        SEGMENTS, {"name": "名单", "slug": "list", "kind": "static", "rule": {}}, format="json"
    )
    bad = api.post(
        SEGMENTS,
        {"name": "名单", "slug": "list2", "kind": "static", "rule": SHANGHAI},
        format="json",
    )

    assert good.status_code == 201
    assert good.json()["status"] == "draft"
    assert bad.status_code == 400
    assert bad.json() == {"rule": [str(ERROR_STATIC_RULE)]}
    assert queued == []


def test_the_slug_preview_is_reserved(api, queued):
    response = api.post(SEGMENTS, {"name": "p", "slug": "preview", "rule": SHANGHAI}, format="json")

    assert response.status_code == 400
    assert response.json() == {"slug": [str(ERROR_SLUG_RESERVED.format(slug="preview"))]}


def test_a_referenced_segment_cannot_change_its_slug(api, shanghai, queued):
    Segment.objects.create(name="b", slug="b", rule={"any": [{"segment": "shanghai"}]})

    response = api.patch(detail("shanghai"), {"slug": "sh"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"slug": [str(ERROR_RENAME_REFERENCED.format(slugs="b"))]}


def test_the_list_filters_by_kind_and_status(api, shanghai):
    Segment.objects.create(name="名单", slug="list", kind="static", rule={})
    Segment.objects.filter(pk=shanghai.pk).update(status="ready")

    static = api.get(SEGMENTS, {"kind": "static"}).json()["results"]
    ready = api.get(SEGMENTS, {"status": "ready"}).json()["results"]
    bad = api.get(SEGMENTS, {"status": "nonsense"})

    assert [row["slug"] for row in static] == ["list"]
    assert [row["slug"] for row in ready] == ["shanghai"]
    assert bad.status_code == 400


# --------------------------------------------------------------------------- delete


def test_deleting_an_unreferenced_segment(api, shanghai):
    response = api.delete(detail("shanghai"))

    assert response.status_code == 204
    assert not Segment.objects.exists()


def test_deleting_a_segment_other_rules_refer_to_is_refused_naming_them(api, shanghai):
    Segment.objects.create(
        name="深", slug="deep", rule={"all": [{"any": [{"not": {"segment": "shanghai"}}]}]}
    )
    Segment.objects.create(name="a", slug="a-ref", rule={"all": [{"segment": "shanghai"}]})
    Segment.objects.create(name="other", slug="other", rule=SHANGHAI)

    response = api.delete(detail("shanghai"))

    assert response.status_code == 400
    assert response.json() == {"detail": str(ERROR_DELETE_REFERENCED.format(slugs="a-ref, deep"))}
    assert Segment.objects.filter(slug="shanghai").exists()


# --------------------------------------------------------------------------- preview


def test_preview_counts_the_rule_and_saves_nothing(api, people):
    response = api.post(PREVIEW, {"rule": SHANGHAI}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["size"] == 3
    assert sorted(body["sample"]) == ["sh-0", "sh-1", "sh-2"]
    assert body["as_of"]
    assert not Segment.objects.exists()
    assert not SegmentMembership.objects.exists()


def test_preview_refuses_a_bad_rule_with_its_path(api):
    response = api.post(PREVIEW, {"rule": BAD_OP}, format="json")

    assert response.status_code == 400
    assert response.json()["rule"][0].startswith("all[0].op: ")


def test_preview_with_the_edited_slug_refuses_a_rule_referring_back(api, shanghai):
    rule = {"all": [{"segment": "shanghai"}]}

    free = api.post(PREVIEW, {"rule": rule}, format="json")
    looped = api.post(PREVIEW, {"rule": rule, "slug": "shanghai"}, format="json")

    assert free.status_code == 200
    assert looped.status_code == 400


# --------------------------------------------------------------------------- evaluate / members


def test_evaluate_queues_the_segment_and_the_eager_task_fills_its_membership(
    api, shanghai, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(f"{detail('shanghai')}evaluate/")

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert callbacks  # the evaluation; its membership change then tells the apps above
    shanghai.refresh_from_db()
    assert (shanghai.status, shanghai.size, shanghai.version) == ("ready", 3, 1)
    members = SegmentMembership.objects.filter(segment=shanghai)
    assert sorted(members.values_list("profile__external_id", flat=True)) == [
        "sh-0", "sh-1", "sh-2",
    ]  # fmt: skip


def test_evaluate_runs_only_after_commit(api, shanghai, people, queued):
    response = api.post(f"{detail('shanghai')}evaluate/")  # the test transaction never commits

    assert response.status_code == 202
    assert queued == []
    assert not SegmentMembership.objects.exists()


def test_a_static_segment_cannot_be_evaluated(api, queued):
    Segment.objects.create(name="名单", slug="list", kind="static", rule={})

    response = api.post(f"{detail('list')}evaluate/")

    assert response.status_code == 400
    assert response.json() == {"detail": str(ERROR_STATIC_EVALUATE)}
    assert queued == []


def test_members_come_in_cursor_pages_in_membership_order(api, shanghai, people):
    segment_evaluate(segment_id=shanghai.pk)
    url = f"{detail('shanghai')}members/"
    expected = list(
        SegmentMembership.objects.filter(segment=shanghai)
        .order_by("id")
        .values_list("profile__external_id", flat=True)
    )

    first = api.get(url, {"page_size": 2}).json()
    second = api.get(first["next"]).json()

    assert [row["external_id"] for row in first["results"]] == expected[:2]
    assert [row["external_id"] for row in second["results"]] == expected[2:]
    assert second["next"] is None
    assert set(first["results"][0]) == {"external_id", "since", "version_added"}
    assert first["results"][0]["version_added"] == 1


def test_members_of_an_unknown_segment_is_404(api):
    assert api.get(f"{detail('nobody')}members/").status_code == 404


# --------------------------------------------------------------------------- access


def test_an_outsider_can_neither_read_nor_write(outsider, shanghai, queued):
    client = client_for(outsider)

    responses = [
        client.get(SEGMENTS),
        client.get(f"{detail('shanghai')}members/"),
        client.post(SEGMENTS, {"name": "x", "slug": "x", "rule": SHANGHAI}, format="json"),
        client.post(PREVIEW, {"rule": SHANGHAI}, format="json"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]


def test_an_anonymous_request_is_refused(shanghai):
    assert APIClient().get(SEGMENTS).status_code in (401, 403)


def test_a_campaign_manager_reads_segments_but_cannot_write(campaign_manager, shanghai, queued):
    client = client_for(campaign_manager)

    reads = [client.get(SEGMENTS), client.get(detail("shanghai"))]
    reads.append(client.get(f"{detail('shanghai')}members/"))
    writes = [
        client.post(SEGMENTS, {"name": "x", "slug": "x", "rule": SHANGHAI}, format="json"),
        client.patch(detail("shanghai"), {"name": "改"}, format="json"),
        client.delete(detail("shanghai")),
        client.post(PREVIEW, {"rule": SHANGHAI}, format="json"),
        client.post(f"{detail('shanghai')}evaluate/"),
    ]

    assert [r.status_code for r in reads] == [200, 200, 200]
    assert [r.status_code for r in writes] == [403] * 5
    assert list(Segment.objects.values_list("slug", "name")) == [("shanghai", "上海用户")]
    assert queued == []


# --------------------------------------------------------------------------- schema


def test_the_schema_describes_every_segments_endpoint(api):
    paths = api.get("/api/v1/schema/", {"format": "json"}).json()["paths"]

    assert set(paths["/api/v1/segments/"]) == {"get", "post"}
    assert set(paths["/api/v1/segments/{slug}/"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/segments/preview/"]) == {"post"}
    assert set(paths["/api/v1/segments/{slug}/evaluate/"]) == {"post"}
    members = paths["/api/v1/segments/{slug}/members/"]["get"]
    assert {p["name"] for p in members["parameters"]} >= {"cursor", "page_size", "slug"}
    filters = {p["name"] for p in paths["/api/v1/segments/"]["get"]["parameters"]}
    assert {"kind", "status"} <= filters
