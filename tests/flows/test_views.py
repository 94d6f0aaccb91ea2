"""The flow pages: who may see and edit them, the in-place step edits, going live, the counts."""

import datetime

import pytest
import time_machine

from flows.definition import ERROR_POLICY_DAYS, ERROR_VARIANTS
from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, Flow
from flows.services import flow_create
from flows.step_forms import ERROR_SPLIT_ROWS
from flows.tree import ERROR_PATH_EMPTY, ERROR_PATHS_LEFT
from tests.factories import ProfileFactory, TagFactory
from tests.flows.helpers import definition, email_step, live_flow

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}
EXIT_2 = {"key": "exit-2", "kind": "exit"}


@pytest.fixture
def manager_client(client, campaign_manager):
    client.force_login(campaign_manager)
    return client


@pytest.fixture
def draft():
    return flow_create(name="Cart", slug="cart", definition=definition([]))


def steps_of(flow: Flow) -> list:
    flow.refresh_from_db()
    return flow.definition["steps"]


def add(client, flow, kind, data=None, **position) -> object:
    fields = {"kind": kind, "after": "", "parent": "", "path": "", **position}
    fields.update({f"step-{name}": value for name, value in (data or {}).items()})
    return client.post(f"/flows/{flow.slug}/steps/add/", fields, **HTMX)


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/flows/", "/flows/cart/", "/flows/new/"])
def test_an_outsider_is_refused_every_flow_page(client, outsider, draft, path):
    client.force_login(outsider)

    assert client.get(path).status_code == 403


def test_ops_reads_flows_but_may_not_change_them(ops_client, draft):
    assert ops_client.get("/flows/").status_code == 200
    page = ops_client.get("/flows/cart/")

    assert page.status_code == 200
    assert 'data-testid="go-live"' not in page.content.decode()
    assert 'data-testid="report-link"' not in page.content.decode()  # it never went live
    assert ops_client.get("/flows/new/").status_code == 403
    assert add(ops_client, draft, "exit").status_code == 403
    assert ops_client.post("/flows/cart/go-live/").status_code == 403


def test_the_navigation_links_to_flows_and_marks_the_section(manager_client, draft):
    page = manager_client.get("/flows/").content.decode()

    assert 'href="/flows/" aria-current="page"' in page


# --------------------------------------------------------------------------- list and create


def test_the_list_shows_status_trigger_in_words_and_counts(manager_client):
    flow = live_flow([{"key": "w", "kind": "wait", "duration": {"hours": 2}}])
    flow_enroll(flow=flow, profile_ids=[ProfileFactory().pk, ProfileFactory().pk])

    page = manager_client.get("/flows/").content.decode()

    assert "When add_to_cart happens" in page
    assert ">Live<" in page
    row = page.split('data-testid="flow-cart"')[1].split("</tr>")[0]
    assert row.count("<td>2</td>") == 2  # entered, in the flow now


def test_a_manager_creates_a_draft_flow_with_an_event_trigger(manager_client):
    response = manager_client.post(
        "/flows/new/",
        {
            "name": "Abandoned cart",
            "slug": "abandoned-cart",
            "trigger_type": "event",
            "event": "add_to_cart",
            "where": '{"category": "beauty"}',
        },
    )

    assert response.status_code == 302
    flow = Flow.objects.get(slug="abandoned-cart")
    assert flow.status == Flow.Status.DRAFT
    assert flow.definition["trigger"] == {
        "type": "event",
        "event": "add_to_cart",
        "where": {"category": "beauty"},
    }


def test_creating_a_flow_with_a_taken_slug_says_so_on_the_slug(manager_client, draft):
    response = manager_client.post("/flows/new/", {"name": "Again", "slug": "cart"})

    assert response.status_code == 400
    assert 'data-testid="field-error-slug"' in response.content.decode()


# --------------------------------------------------------------------------- step edits


def test_adding_a_step_offers_the_kinds_then_the_kind_form_in_place(manager_client, draft):
    kinds = manager_client.get("/flows/cart/steps/add/", **HTMX).content.decode()
    form = manager_client.get("/flows/cart/steps/add/?kind=wait", **HTMX).content.decode()

    assert "<html" not in kinds
    assert 'data-testid="add-kind-split"' in kinds
    assert 'data-testid="step-form"' in form
    assert 'name="step-mode"' in form


def test_steps_are_added_with_generated_keys_and_the_tree_comes_back(manager_client, draft):
    first = add(manager_client, draft, "wait", {"mode": "duration", "hours": 2})
    second = add(manager_client, draft, "exit", after="wait-1")

    assert first.status_code == second.status_code == 200
    assert steps_of(draft) == [
        {"key": "wait-1", "kind": "wait", "duration": {"hours": 2}},
        {"key": "exit-1", "kind": "exit"},
    ]
    page = second.content.decode()
    assert 'id="flow-editor"' in page
    assert "Wait 2 hours" in page


def test_a_branching_step_added_before_others_takes_them_into_its_first_path(manager_client, draft):
    add(manager_client, draft, "exit")

    add(manager_client, draft, "wait", {"mode": "until_event", "event": "purchase", "hours": 2})
    add(manager_client, draft, "exit", parent="wait-1", path="timeout")

    (wait,) = steps_of(draft)
    assert wait["until_event"] == {"event": "purchase"}
    assert wait["timeout"] == {"hours": 2}
    assert wait["paths"] == {
        "event": [{"key": "exit-1", "kind": "exit"}],
        "timeout": [{"key": "exit-2", "kind": "exit"}],
    }


def test_a_removed_key_that_went_live_is_never_given_again(manager_client):
    flow = live_flow([{"key": "exit-1", "kind": "exit"}])
    manager_client.post("/flows/cart/pause/")
    manager_client.post("/flows/cart/steps/exit-1/remove/", **HTMX)

    add(manager_client, flow, "exit")

    assert [step["key"] for step in steps_of(flow)] == ["exit-2"]


def test_editing_a_step_keeps_its_key_and_shows_the_form_in_place(manager_client, draft):
    add(manager_client, draft, "wait", {"mode": "duration", "hours": 2})
    form = manager_client.get("/flows/cart/steps/wait-1/edit/", **HTMX).content.decode()

    response = manager_client.post(
        "/flows/cart/steps/wait-1/edit/",
        {"step-mode": "until", "step-weekdays": ["0", "4"], "step-time": "09:30"},
        **HTMX,
    )

    assert 'value="2"' in form
    assert response.status_code == 200
    assert steps_of(draft) == [
        {"key": "wait-1", "kind": "wait", "until": {"weekdays": [0, 4], "time": "09:30"}}
    ]


def test_an_invalid_step_form_stays_open_with_its_errors(manager_client, draft):
    response = add(manager_client, draft, "split", {"name_0": "A", "percent_0": 100})

    assert 'data-testid="step-form"' in response.content.decode()
    assert str(ERROR_SPLIT_ROWS) in response.content.decode()
    assert steps_of(draft) == []


def test_a_definition_error_is_shown_on_the_field_it_concerns(manager_client, draft):
    response = add(manager_client, draft, "wait", {"mode": "duration"})

    assert 'data-testid="field-error-days"' in response.content.decode()
    assert steps_of(draft) == []


def test_removing_a_branching_step_removes_its_paths(manager_client, draft):
    add(manager_client, draft, "exit")
    add(manager_client, draft, "branch", {"rule": '{"attr": "city", "op": "eq", "value": "上海"}'})
    add(manager_client, draft, "exit", parent="branch-1", path="no")

    response = manager_client.post("/flows/cart/steps/branch-1/remove/", **HTMX)

    assert response.status_code == 200
    assert steps_of(draft) == []


def test_a_step_that_stops_branching_keeps_the_steps_of_its_one_path(manager_client, draft):
    add(manager_client, draft, "exit")
    add(manager_client, draft, "wait", {"mode": "until_event", "event": "purchase", "hours": 1})
    add(manager_client, draft, "exit", parent="wait-1", path="timeout")
    blocked = manager_client.post(
        "/flows/cart/steps/wait-1/edit/", {"step-mode": "duration", "step-hours": 1}, **HTMX
    )
    manager_client.post("/flows/cart/steps/exit-2/remove/", **HTMX)

    manager_client.post(
        "/flows/cart/steps/wait-1/edit/", {"step-mode": "duration", "step-hours": 1}, **HTMX
    )

    assert str(ERROR_PATHS_LEFT) in blocked.content.decode()
    assert steps_of(draft) == [
        {"key": "wait-1", "kind": "wait", "duration": {"hours": 1}},
        {"key": "exit-1", "kind": "exit"},
    ]


def test_removing_what_a_live_flow_needs_is_refused_with_the_reason(manager_client):
    live_flow(
        [
            {
                "key": "wait-1",
                "kind": "wait",
                "until_event": {"event": "purchase"},
                "timeout": {"hours": 2},
                "paths": {"event": [{"key": "exit-1", "kind": "exit"}], "timeout": [EXIT_2]},
            }
        ]
    )

    response = manager_client.post("/flows/cart/steps/exit-2/remove/", **HTMX)

    page = response.content.decode()
    assert 'data-testid="error-summary"' in page
    assert str(ERROR_PATH_EMPTY) in page
    assert steps_of(Flow.objects.get())[0]["paths"]["timeout"] == [EXIT_2]


def test_an_edit_without_htmx_redirects_to_the_editor(manager_client, draft):
    response = manager_client.post(
        "/flows/cart/steps/add/", {"kind": "exit", "after": "", "parent": "", "path": ""}
    )

    assert response.status_code == 302
    assert response["Location"] == "/flows/cart/"


def test_saving_a_live_flow_makes_a_new_version_and_says_so(manager_client):
    flow = live_flow([{"key": "wait-1", "kind": "wait", "duration": {"hours": 2}}])

    response = manager_client.post(
        "/flows/cart/steps/wait-1/edit/", {"step-mode": "duration", "step-hours": 3}, **HTMX
    )

    flow.refresh_from_db()
    assert flow.version.number == 2
    assert "Version 2" in response.content.decode()
    assert "running enrollments finish on the version they entered" in response.content.decode()


# --------------------------------------------------------------------------- settings


def test_the_settings_are_saved_into_the_working_copy(manager_client, draft):
    response = manager_client.post(
        "/flows/cart/settings/",
        {
            "name": "Cart",
            "trigger_type": "event",
            "event": "add_to_cart",
            "entry_rule_on": "on",
            "rule": '{"attr": "city", "op": "eq", "value": "上海"}',
            "reentry_policy": "after_days",
            "reentry_days": 30,
            "exit_events": "purchase, refund",
            "goal_event": "purchase",
            "goal_days": 7,
        },
    )

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.definition["entry_rule"] == {"attr": "city", "op": "eq", "value": "上海"}
    assert draft.definition["reentry"] == {"policy": "after_days", "days": 30}
    assert draft.definition["exit"] == [{"event": "purchase"}, {"event": "refund"}]
    assert draft.definition["goal"] == {"event": "purchase", "within_days": 7}


def test_a_bad_setting_is_shown_on_its_field(manager_client, draft):
    fields = {"name": "Cart", "trigger_type": "event", "reentry_policy": "after_days"}
    no_event = manager_client.post("/flows/cart/settings/", fields)

    no_days = manager_client.post("/flows/cart/settings/", {**fields, "event": "add_to_cart"})

    assert no_event.status_code == no_days.status_code == 400
    assert 'data-testid="field-error-event"' in no_event.content.decode()
    assert 'data-testid="field-error-reentry_days"' in no_days.content.decode()
    assert str(ERROR_POLICY_DAYS) in no_days.content.decode()


# --------------------------------------------------------------------------- going live


def test_going_live_shows_each_error_on_the_card_and_path_it_concerns(manager_client):
    flow_create(
        name="Cart",
        slug="cart",
        definition=definition(
            [
                {
                    "key": "wait-1",
                    "kind": "wait",
                    "until_event": {"event": "purchase"},
                    "timeout": {"hours": 2},
                    "paths": {
                        "event": [],
                        "timeout": [{"key": "send-1", "kind": "send", "channel": "sms"}],
                    },
                }
            ]
        ),
    )

    response = manager_client.post("/flows/cart/go-live/")

    page = response.content.decode()
    assert Flow.objects.get().status == Flow.Status.DRAFT
    assert 'data-testid="error-summary"' in page
    card = page.split('data-testid="card-send-1"')[1].split("</article>")[0]
    assert str(ERROR_VARIANTS) in card
    path_error = page.split('data-testid="path-error-wait-1-event"')[1].split("</p>")[0]
    assert str(ERROR_PATH_EMPTY) in path_error


def test_going_live_then_pausing_and_archiving(manager_client):
    flow_create(name="Cart", slug="cart", definition=definition([{"key": "x", "kind": "exit"}]))

    live = manager_client.post("/flows/cart/go-live/")
    paused = manager_client.post("/flows/cart/pause/")
    archived = manager_client.post("/flows/cart/archive/")

    assert (live.status_code, paused.status_code, archived.status_code) == (302, 302, 302)
    assert Flow.objects.get().status == Flow.Status.ARCHIVED
    assert add(manager_client, Flow.objects.get(), "exit").status_code == 403


# --------------------------------------------------------------------------- counts


@pytest.fixture
def running(campaign_manager):
    """A live flow with three profiles: one waits, one converted and passed, one exited."""
    TagFactory(slug="converted")
    flow = live_flow(
        [
            {"key": "wait-1", "kind": "wait", "duration": {"hours": 2}},
            {"key": "update-1", "kind": "update_profile", "add_tags": ["converted"]},
        ],
        goal={"event": "purchase", "within_days": 7},
    )
    waiting, passed, exited = (ProfileFactory(external_id=f"C-{n}") for n in range(3))
    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=flow, profile_ids=[passed.pk, exited.pk])
        enrollments_advance()
    Enrollment.objects.filter(profile=exited).update(status=Enrollment.Status.EXITED)
    Enrollment.objects.filter(profile=passed).update(converted_at=NOW)
    with time_machine.travel(NOW + datetime.timedelta(hours=3), tick=False):
        enrollments_advance()
        flow_enroll(flow=flow, profile_ids=[waiting.pk])
        enrollments_advance()
    return flow


def test_each_card_shows_entered_waiting_passed_exited_and_converted(manager_client, running):
    page = manager_client.get("/flows/cart/").content.decode()

    card = page.split('data-testid="card-wait-1"')[1].split("</article>")[0]
    counts = {
        which: card.split(f'data-testid="count-{which}-wait-1">')[1].split("<")[0]
        for which in ("entered", "waiting", "passed", "exited", "converted")
    }
    assert counts == {
        "entered": "3",
        "waiting": "1",
        "passed": "1",
        "exited": "1",
        "converted": "1",
    }


def test_a_count_opens_the_profiles_at_that_step(manager_client, running):
    response = manager_client.get("/flows/cart/steps/wait-1/profiles/?which=exited")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'href="/profiles/C-2/"' in page
    assert "C-0" not in page and "C-1" not in page


def test_an_unknown_count_or_step_is_not_found(manager_client, running):
    assert manager_client.get("/flows/cart/steps/nope/profiles/").status_code == 404
    assert manager_client.get("/flows/cart/steps/wait-1/profiles/?which=x").status_code == 404


def test_the_editor_speaks_chinese(manager_client, running, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    page = manager_client.get("/flows/cart/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    for words in ("流程", "等待 2 小时", "进入", "停留中", "已通过", "已退出", "已转化", "暂停"):
        assert words in page
    assert ">live<" not in page and "update_profile<" not in page


def test_an_email_step_is_summarised_by_its_subject(manager_client, draft):
    add(
        manager_client,
        draft,
        "send",
        {"channel": "email", "subject": "Your cart misses you", "body_text": "Come back"},
    )

    page = manager_client.get("/flows/cart/").content.decode()

    assert "Send email “Your cart misses you”" in page
    assert steps_of(draft)[0]["variants"] == [
        {
            "key": "A",
            "weight": 100,
            "subject": "Your cart misses you",
            "body_text": "Come back",
            "body_html": "",
        }
    ]


def test_the_helpers_email_step_reads_back_into_the_form(manager_client):
    flow_create(name="Cart", slug="cart", definition=definition([email_step("send-1")]))

    form = manager_client.get("/flows/cart/steps/send-1/edit/", **HTMX).content.decode()

    assert "Hi {{ name }}" in form
