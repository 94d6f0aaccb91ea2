"""The engine moves enrollments step by step, set-based, each step at most once."""

import datetime

import pytest
import time_machine

from flows.engine import enrollments_advance
from flows.enroll import flow_enroll
from flows.models import Enrollment, StepRun
from profiles.models import ProfileTag
from tests.factories import EventFactory, ProfileFactory, TagFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


def test_it_waits_then_tags_and_completes():
    TagFactory(slug="converted")
    flow = live_flow(
        [
            {"key": "w", "kind": "wait", "duration": {"hours": 2}},
            {
                "key": "tag",
                "kind": "update_profile",
                "add_tags": ["converted"],
                "set_traits": {"vip": True},
            },
        ]
    )
    profile = ProfileFactory()
    with time_machine.travel(NOW, tick=False):
        assert flow_enroll(flow=flow, profile_ids=[profile.pk]) == 1
        enrollments_advance()
    enrollment = Enrollment.objects.get()
    assert enrollment.step_key == "w"
    assert enrollment.wake_at == NOW + datetime.timedelta(hours=2)

    with time_machine.travel(NOW + datetime.timedelta(hours=2, seconds=1), tick=False):
        result = enrollments_advance()

    enrollment.refresh_from_db()
    profile.refresh_from_db()
    assert result.claimed == 1
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert ProfileTag.objects.get(profile=profile).provenance == "flow"
    assert profile.traits["vip"] is True
    assert sorted(StepRun.objects.values_list("step_key", flat=True)) == ["tag", "w"]


def test_a_wait_until_event_takes_the_event_path_when_it_happens():
    TagFactory(slug="bought")
    flow = live_flow(
        [
            {
                "key": "w",
                "kind": "wait",
                "until_event": {"event": "purchase"},
                "timeout": {"hours": 2},
                "paths": {
                    "event": [{"key": "t", "kind": "update_profile", "add_tags": ["bought"]}],
                    "timeout": [{"key": "x", "kind": "exit"}],
                },
            }
        ]
    )
    buyer, idle = ProfileFactory(), ProfileFactory()
    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=flow, profile_ids=[buyer.pk, idle.pk])
        enrollments_advance()
    EventFactory(profile=buyer, name="purchase", occurred_at=NOW + datetime.timedelta(minutes=30))
    Enrollment.objects.filter(profile=buyer).update(wake_at=NOW + datetime.timedelta(minutes=30))

    with time_machine.travel(NOW + datetime.timedelta(minutes=31), tick=False):
        enrollments_advance()
    with time_machine.travel(NOW + datetime.timedelta(hours=3), tick=False):
        enrollments_advance()

    outcomes = dict(
        StepRun.objects.filter(step_key="w").values_list("enrollment__profile_id", "outcome")
    )
    assert outcomes == {buyer.pk: "event", idle.pk: "timeout"}
    assert ProfileTag.objects.filter(profile=buyer).exists()
    assert Enrollment.objects.get(profile=idle).exit_reason == "exit_step"


def test_a_profile_enters_once_under_the_once_policy():
    flow = live_flow([{"key": "x", "kind": "exit"}])
    profile = ProfileFactory()

    first = flow_enroll(flow=flow, profile_ids=[profile.pk])
    enrollments_advance()
    second = flow_enroll(flow=flow, profile_ids=[profile.pk])

    assert (first, second) == (1, 0)


def test_every_time_lets_a_profile_in_again_after_it_finished_but_not_while_inside():
    flow = live_flow(
        [{"key": "w", "kind": "wait", "duration": {"hours": 1}}], reentry={"policy": "always"}
    )
    profile = ProfileFactory()

    with time_machine.travel(NOW, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])
        enrollments_advance()
        inside = flow_enroll(flow=flow, profile_ids=[profile.pk])
    with time_machine.travel(NOW + datetime.timedelta(hours=2), tick=False):
        enrollments_advance()
        again = flow_enroll(flow=flow, profile_ids=[profile.pk])

    assert inside == 0
    assert again == 1
    assert sorted(Enrollment.objects.values_list("entry", flat=True)) == [1, 2]


def test_branch_and_split_record_their_paths():
    flow = live_flow(
        [
            {
                "key": "b",
                "kind": "branch",
                "rule": {"attr": "city", "op": "eq", "value": "上海"},
                "paths": {
                    "yes": [{"key": "y", "kind": "exit"}],
                    "no": [
                        {
                            "key": "s",
                            "kind": "split",
                            "percents": {"a": 50, "control": 50},
                            "control": "control",
                            "paths": {"a": [{"key": "ax", "kind": "exit"}], "control": []},
                        }
                    ],
                },
            }
        ]
    )
    shanghai = ProfileFactory(city="上海")
    others = [ProfileFactory(city="北京") for _ in range(20)]

    flow_enroll(flow=flow, profile_ids=[shanghai.pk, *[p.pk for p in others]])
    enrollments_advance()

    runs = StepRun.objects.filter(step_key="s")
    assert StepRun.objects.get(step_key="b", enrollment__profile=shanghai).outcome == "yes"
    assert runs.count() == 20
    assert set(runs.values_list("outcome", flat=True)) == {"a", "control"}
    assert not Enrollment.objects.filter(status=Enrollment.Status.ACTIVE).exists()
