"""Exits, conversions, versions and the checks that keep a flow from misbehaving."""

import datetime

import pytest
import time_machine

from flows.definition import ERROR_EMPTY_PATH, ERROR_WAIT_LIMIT, FlowError, definition_parse
from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, Flow, StepRun
from flows.services import ERROR_LOOP, flow_create, flow_go_live, flow_pause, flow_update
from flows.triggers import flows_events_handle
from tests.factories import EventFactory, ProfileFactory
from tests.flows.helpers import definition, live_flow

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
WAIT_TWO_DAYS = {"key": "w", "kind": "wait", "duration": {"days": 2}}


def _event(profile, name, at, **properties):
    EventFactory(profile=profile, name=name, occurred_at=at, properties=properties)
    return [profile.pk, name, at.isoformat(), properties]


def test_the_goal_event_stops_an_enrollment_in_the_middle_of_a_wait_and_converts_it():
    flow = live_flow(
        [WAIT_TWO_DAYS, {"key": "x", "kind": "exit"}],
        exit=[{"event": "purchase"}],
        goal={"event": "purchase", "within_days": 7},
    )
    profile = ProfileFactory()
    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])

    at = NOW + datetime.timedelta(hours=5)
    with time_machine.travel(at, tick=False):
        counts = flows_events_handle(events=[_event(profile, "purchase", at)])

    enrollment = Enrollment.objects.get()
    assert counts["exited"] == 1
    assert counts["converted"] == 1
    assert enrollment.status == Enrollment.Status.EXITED
    assert enrollment.exit_reason == "event:purchase"
    assert enrollment.step_key == "w"
    assert enrollment.converted_at == at
    assert not StepRun.objects.filter(step_key="x").exists()


def test_an_event_with_matching_properties_enrolls_and_others_do_not():
    flow = live_flow(
        [WAIT_TWO_DAYS],
        trigger={"type": "event", "event": "add_to_cart", "where": {"category": "beauty"}},
    )
    beauty, books = ProfileFactory(), ProfileFactory()

    counts = flows_events_handle(
        events=[
            _event(beauty, "add_to_cart", NOW, category="beauty"),
            _event(books, "add_to_cart", NOW, category="books"),
        ]
    )

    assert counts["enrolled"] == 1
    assert list(Enrollment.objects.values_list("profile_id", flat=True)) == [beauty.pk]
    assert flow.enrollments.get().step_key == "w"


def test_the_entry_rule_is_checked_at_entry():
    flow = live_flow([WAIT_TWO_DAYS], entry_rule={"attr": "city", "op": "eq", "value": "上海"})
    shanghai, beijing = ProfileFactory(city="上海"), ProfileFactory(city="北京")

    entered = flow_enroll(flow=flow, profile_ids=[shanghai.pk, beijing.pk])

    assert entered == 1
    assert flow.enrollments.get().profile == shanghai


def test_running_enrollments_finish_on_the_version_they_entered():
    flow = live_flow([WAIT_TWO_DAYS, {"key": "old", "kind": "exit"}])
    first = ProfileFactory()
    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=flow, profile_ids=[first.pk])

        flow_update(
            flow=flow, definition=definition([WAIT_TWO_DAYS, {"key": "new", "kind": "exit"}])
        )
        second = ProfileFactory()
        flow_enroll(flow=flow, profile_ids=[second.pk])
    with time_machine.travel(NOW + datetime.timedelta(days=3), tick=False):
        enrollments_advance()

    flow.refresh_from_db()
    assert flow.version.number == 2
    ends = dict(
        StepRun.objects.exclude(step_key="w").values_list("enrollment__profile_id", "step_key")
    )
    assert ends == {first.pk: "old", second.pk: "new"}


def test_a_flow_that_would_start_itself_again_is_refused():
    steps = [
        {
            "key": "m",
            "kind": "send",
            "channel": "sms",
            "variants": [{"key": "A", "body_text": "hi"}],
        }
    ]
    flow = flow_create(
        name="Loop",
        slug="loop",
        definition=definition(
            steps, trigger={"type": "message", "message": "opened"}, reentry={"policy": "always"}
        ),
    )

    with pytest.raises(FlowError) as refused:
        flow_go_live(flow=flow)

    assert ("trigger", ERROR_LOOP) in refused.value.errors
    assert Flow.objects.get().status == Flow.Status.DRAFT


def test_going_live_names_each_problem_by_its_place():
    raw = definition(
        [
            {"key": "w", "kind": "wait", "duration": {"days": 400}},
            {
                "key": "b",
                "kind": "branch",
                "rule": {"attr": "city", "op": "eq", "value": "x"},
                "paths": {"yes": [], "no": [{"key": "n", "kind": "exit"}]},
            },
        ]
    )
    draft = definition([raw["steps"][1]])
    definition_parse(draft)  # a draft may have an empty path, not a wait beyond the limit

    with pytest.raises(FlowError) as refused:
        definition_parse(raw, complete=True)

    assert refused.value.errors == [
        ("steps[0].duration", ERROR_WAIT_LIMIT),
        ("steps[1].paths.yes", ERROR_EMPTY_PATH.format(path="yes")),
    ]


def test_a_paused_flow_does_not_move_until_it_is_live_again():
    flow = live_flow([{"key": "x", "kind": "exit"}])
    profile = ProfileFactory()
    flow_pause(flow=flow)

    flow_enroll(flow=Flow.objects.get(), profile_ids=[profile.pk])  # paused: nobody enters
    assert not Enrollment.objects.exists()


def test_a_merged_profile_hands_its_enrollments_to_the_kept_one():
    from profiles.services.merge import profile_merge

    flow = live_flow([WAIT_TWO_DAYS])
    kept, merged = ProfileFactory(), ProfileFactory()
    flow_enroll(flow=flow, profile_ids=[kept.pk, merged.pk])

    profile_merge(source=merged, target=kept)

    rows = list(Enrollment.objects.order_by("entry").values_list("profile_id", "entry", "status"))
    assert rows == [(kept.pk, 1, "active"), (kept.pk, 2, "exited")]
