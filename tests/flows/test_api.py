"""The flows API: read by all roles, written by campaign managers, errors naming their place."""

import pytest
from rest_framework.test import APIClient

from flows.api.serializers import ERROR_SLUG_FIXED
from flows.api.views import ERROR_PAUSE_NOT_LIVE
from flows.definition import ERROR_NO_STEPS, ERROR_NOT_OBJECT, ERROR_WAIT_LIMIT
from flows.enroll import flow_enroll
from flows.models import Enrollment, Flow
from flows.services import ERROR_ARCHIVED, ERROR_SLUG_TAKEN, flow_create
from flows.triggers_spec import ERROR_TRIGGER, TYPES
from tests.factories import ProfileFactory
from tests.flows.helpers import definition, live_flow

pytestmark = pytest.mark.django_db

FLOWS = "/api/v1/flows/"
WAIT = {"key": "w", "kind": "wait", "duration": {"days": 2}}


def detail(slug: str, action: str = "") -> str:
    return f"{FLOWS}{slug}/" + (f"{action}/" if action else "")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def manager_api(campaign_manager):
    return client_for(campaign_manager)


@pytest.fixture
def ops_api(ops_user):
    return client_for(ops_user)


def _body(**overrides) -> dict:
    return {"name": "Cart reminder", "slug": "cart", "definition": definition([WAIT]), **overrides}


def test_ops_staff_read_flows_with_status_version_and_definition(ops_api):
    live_flow([WAIT], slug="cart")
    flow_create(name="Draft", slug="draft", definition={})

    listed = ops_api.get(FLOWS).json()["results"]
    shown = ops_api.get(detail("cart")).json()

    assert [row["slug"] for row in listed] == ["draft", "cart"]
    assert (shown["status"], shown["version"], shown["paused_reason"]) == ("live", 1, "")
    assert shown["definition"]["steps"] == [WAIT]
    assert set(shown) == {
        "name", "slug", "description", "status", "definition", "version", "paused_reason",
        "created_at",
    }  # fmt: skip
    assert listed[0]["version"] is None


def test_the_list_filters_by_status(ops_api):
    live_flow([WAIT], slug="cart")
    flow_create(name="Draft", slug="draft", definition={})

    drafts = ops_api.get(FLOWS, {"status": "draft"}).json()["results"]

    assert [row["slug"] for row in drafts] == ["draft"]


def test_a_manager_creates_a_draft(manager_api, campaign_manager):
    response = manager_api.post(FLOWS, _body(), format="json")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["version"]) == ("draft", None)
    assert Flow.objects.get(slug="cart").created_by == campaign_manager


def test_an_invalid_definition_is_a_400_naming_the_place(manager_api):
    steps = [{"key": "w", "kind": "wait", "duration": {"days": 0}}]

    response = manager_api.post(FLOWS, _body(definition=definition(steps)), format="json")

    assert response.status_code == 400
    assert response.json() == {"definition": [f"steps[0].duration: {ERROR_WAIT_LIMIT}"]}
    assert not Flow.objects.exists()


def test_a_definition_that_is_not_an_object_is_refused(manager_api):
    response = manager_api.post(FLOWS, _body(definition=[WAIT]), format="json")

    assert response.status_code == 400
    assert response.json() == {"definition": [str(ERROR_NOT_OBJECT)]}


def test_a_live_flow_keeps_its_version_when_a_change_could_not_run(manager_api):
    live_flow([WAIT], slug="cart")

    response = manager_api.patch(detail("cart"), {"definition": definition([])}, format="json")

    assert response.status_code == 400
    assert response.json() == {"definition": [f"steps: {ERROR_NO_STEPS}"]}
    assert manager_api.get(detail("cart")).json()["definition"]["steps"] == [WAIT]


def test_a_taken_slug_is_refused_under_slug(manager_api):
    flow_create(name="Other", slug="cart", definition={})

    response = manager_api.post(FLOWS, _body(), format="json")

    assert response.status_code == 400
    assert response.json() == {"slug": [ERROR_SLUG_TAKEN.format(slug="cart")]}


def test_the_slug_does_not_change(manager_api):
    flow_create(name="Cart", slug="cart", definition={})

    response = manager_api.patch(detail("cart"), {"slug": "basket"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"slug": [ERROR_SLUG_FIXED]}


def test_a_manager_changes_a_draft_in_part(manager_api):
    flow_create(name="Cart", slug="cart", definition=definition([WAIT]))

    response = manager_api.patch(detail("cart"), {"name": "Basket"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Basket"
    assert response.json()["definition"]["steps"] == [WAIT]


def test_going_live_checks_the_whole_flow_then_starts_version_one(manager_api):
    flow_create(name="Cart", slug="cart", definition={"steps": [WAIT]})

    refused = manager_api.post(detail("cart", "live"))
    manager_api.patch(detail("cart"), {"definition": definition([WAIT])}, format="json")
    started = manager_api.post(detail("cart", "live"))

    assert refused.status_code == 400
    assert refused.json() == {
        "definition": [f"trigger: {ERROR_TRIGGER.format(types=', '.join(TYPES))}"]
    }
    assert started.status_code == 200
    assert (started.json()["status"], started.json()["version"]) == ("live", 1)


def test_editing_a_live_flow_makes_a_new_version(manager_api):
    live_flow([WAIT], slug="cart")
    longer = {**WAIT, "duration": {"days": 3}}

    response = manager_api.put(
        detail("cart"), _body(definition=definition([longer])), format="json"
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_a_live_flow_pauses_and_goes_live_again(manager_api):
    live_flow([WAIT], slug="cart")

    paused = manager_api.post(detail("cart", "pause")).json()
    again = manager_api.post(detail("cart", "live")).json()

    assert (paused["status"], again["status"]) == ("paused", "live")
    assert again["version"] == 1


def test_a_draft_cannot_be_paused(manager_api):
    flow_create(name="Cart", slug="cart", definition={})

    response = manager_api.post(detail("cart", "pause"))

    assert response.status_code == 409
    assert response.json() == {"detail": str(ERROR_PAUSE_NOT_LIVE)}


def test_deleting_a_draft_deletes_it(manager_api):
    flow_create(name="Cart", slug="cart", definition={})

    response = manager_api.delete(detail("cart"))

    assert response.status_code == 204
    assert manager_api.get(detail("cart")).status_code == 404


def test_deleting_a_flow_that_went_live_archives_it_and_it_no_longer_changes(manager_api):
    flow = live_flow([WAIT], slug="cart")
    flow_enroll(flow=flow, profile_ids=[ProfileFactory().pk])

    archived = manager_api.delete(detail("cart"))
    changed = manager_api.patch(detail("cart"), {"name": "x"}, format="json")
    started = manager_api.post(detail("cart", "live"))

    assert (archived.status_code, archived.json()["status"]) == (200, "archived")
    assert Enrollment.objects.get().exit_reason == "archived"
    assert (changed.status_code, started.status_code) == (409, 409)
    assert changed.json() == {"detail": str(ERROR_ARCHIVED)}


def _enrolled(flow: Flow, external_ids: list[str]) -> None:
    profiles = [ProfileFactory(external_id=external_id) for external_id in external_ids]
    flow_enroll(flow=flow, profile_ids=[profile.pk for profile in profiles])


def test_the_enrollments_page_in_entry_order_with_external_ids(ops_api):
    flow = live_flow([WAIT], slug="cart")
    _enrolled(flow, ["alice", "bob", "carol"])

    first = ops_api.get(detail("cart", "enrollments"), {"page_size": 2}).json()
    second = ops_api.get(first["next"]).json()

    rows = first["results"] + second["results"]
    assert [row["external_id"] for row in rows] == ["alice", "bob", "carol"]
    assert second["next"] is None
    assert rows[0]["step"] == "w"
    assert (rows[0]["status"], rows[0]["entry"], rows[0]["version"]) == ("active", 1, 1)
    assert {"entered_at", "exit_reason", "converted_at"} <= set(rows[0])


def test_the_enrollments_filter_by_status_and_step(ops_api):
    flow = live_flow([WAIT, {"key": "x", "kind": "exit"}], slug="cart")
    _enrolled(flow, ["alice", "bob", "carol"])
    Enrollment.objects.filter(profile__external_id="bob").update(
        status=Enrollment.Status.EXITED, exit_reason="segment_left", step_key="x"
    )

    exited = ops_api.get(detail("cart", "enrollments"), {"status": "exited"}).json()
    waiting = ops_api.get(detail("cart", "enrollments"), {"step": "w"}).json()
    wrong = ops_api.get(detail("cart", "enrollments"), {"status": "lost"})

    assert [row["external_id"] for row in exited["results"]] == ["bob"]
    assert [row["external_id"] for row in waiting["results"]] == ["alice", "carol"]
    assert wrong.status_code == 400


def test_the_enrollments_of_an_unknown_flow_are_a_404(ops_api):
    codes = [
        ops_api.get(detail("nope", "enrollments")).status_code,
        ops_api.get(detail("n%00pe", "enrollments")).status_code,
    ]

    assert codes == [404, 404]


def test_ops_staff_read_but_do_not_write(ops_api):
    live_flow([WAIT], slug="cart")

    codes = [
        ops_api.get(detail("cart")).status_code,
        ops_api.get(detail("cart", "enrollments")).status_code,
        ops_api.post(FLOWS, _body(slug="other"), format="json").status_code,
        ops_api.patch(detail("cart"), {"name": "x"}, format="json").status_code,
        ops_api.post(detail("cart", "pause")).status_code,
        ops_api.post(detail("cart", "live")).status_code,
        ops_api.delete(detail("cart")).status_code,
    ]

    assert codes == [200, 200, 403, 403, 403, 403, 403]


def test_an_outsider_reads_nothing(outsider):
    live_flow([WAIT], slug="cart")
    client = client_for(outsider)

    codes = [client.get(FLOWS).status_code, client.get(detail("cart", "enrollments")).status_code]

    assert codes == [403, 403]


def test_the_schema_describes_the_flow_endpoints(ops_api):
    schema = ops_api.get("/api/v1/schema/", {"format": "json"}).json()

    assert {
        "/api/v1/flows/",
        "/api/v1/flows/{slug}/",
        "/api/v1/flows/{slug}/live/",
        "/api/v1/flows/{slug}/pause/",
        "/api/v1/flows/{flow_slug}/enrollments/",
    } <= set(schema["paths"])


def test_the_profile_detail_lists_the_flows_active_first(ops_api):
    first, second = live_flow([WAIT], slug="first"), live_flow([WAIT], slug="second")
    profile = ProfileFactory(external_id="alice")
    flow_enroll(flow=first, profile_ids=[profile.pk])
    Enrollment.objects.filter(flow=first).update(status=Enrollment.Status.COMPLETED)
    flow_enroll(flow=second, profile_ids=[profile.pk])

    flows = ops_api.get("/api/v1/profiles/alice/").json()["flows"]

    assert [(row["flow"], row["status"], row["step"], row["entry"]) for row in flows] == [
        ("second", "active", "w", 1),
        ("first", "completed", "w", 1),
    ]
    assert set(flows[0]) == {"flow", "entry", "step", "status", "entered_at"}
