"""What starts a flow: segment and stage entries, dates coming round, messages opened."""

import datetime
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign
from flows.enroll import flow_enroll
from flows.models import Enrollment
from flows.triggers import (
    date_triggers_handle,
    flows_engagement_receive,
    segment_transitions_handle,
    stage_transitions_handle,
)
from journeys.models import JourneyStage, StageTransition
from segments.models import Segment, SegmentMembership, SegmentTransition
from tests.factories import ProfileFactory
from tests.flows.helpers import live_flow

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = {"key": "w", "kind": "wait", "duration": {"days": 1}}


def _transition(segment, profile, entered):
    SegmentTransition.objects.create(
        segment=segment, profile=profile, entered=entered, version=1, at=timezone.now()
    )


def test_entering_the_trigger_segment_enrolls_and_leaving_the_exit_segment_exits():
    vip = Segment.objects.create(name="VIP", slug="vip", kind=Segment.Kind.STATIC)
    old, new = ProfileFactory(), ProfileFactory()
    _transition(vip, old, True)  # before the flow went live: not enrolled
    flow = live_flow(
        [WAIT],
        trigger={"type": "segment_entered", "segment": "vip"},
        exit=[{"segment_left": "vip"}],
    )
    SegmentMembership.objects.create(segment=vip, profile=new)
    _transition(vip, new, True)

    assert segment_transitions_handle() == 1
    assert flow.enrollments.get().profile == new

    assert flow.enrollments.get().status == Enrollment.Status.ACTIVE
    _transition(vip, new, False)
    segment_transitions_handle()

    enrollment = flow.enrollments.get()
    assert (enrollment.status, enrollment.exit_reason) == (
        Enrollment.Status.EXITED,
        "segment_left:vip",
    )


def test_leaving_an_exit_segment_is_also_seen_when_the_enrollment_wakes():
    vip = Segment.objects.create(name="VIP", slug="vip", kind=Segment.Kind.STATIC)
    profile = ProfileFactory()
    SegmentMembership.objects.create(segment=vip, profile=profile)
    flow = live_flow([{"key": "x", "kind": "exit"}], exit=[{"segment_left": "vip"}])
    SegmentMembership.objects.all().delete()

    flow_enroll(flow=flow, profile_ids=[profile.pk])  # advances at once (eager tasks)

    assert flow.enrollments.get().exit_reason == "segment_left:vip"


def test_entering_a_journey_stage_enrolls():
    stage = JourneyStage.objects.create(slug="repurchase", name="Repurchase", position=5)
    flow = live_flow([WAIT], trigger={"type": "stage_entered", "stage": "repurchase"})
    profile = ProfileFactory()
    StageTransition.objects.create(profile=profile, to_stage=stage, at=timezone.now())

    assert stage_transitions_handle() == 1
    assert stage_transitions_handle() == 0  # the cursor moved on
    assert flow.enrollments.get().profile == profile


def test_a_birthday_enrolls_once_that_day_after_the_flow_time():
    flow = live_flow(
        [WAIT],
        trigger={"type": "date", "attr": "birth_date", "time": "09:00"},
        reentry={"policy": "after_days", "days": 300},
    )
    birthday = ProfileFactory(birth_date=datetime.date(1990, 12, 7))
    ProfileFactory(birth_date=datetime.date(1990, 12, 8))
    early = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=timezone.get_default_timezone())

    with time_machine.travel(early, tick=False):
        assert date_triggers_handle() == 0
    with time_machine.travel(early + datetime.timedelta(hours=2), tick=False):
        assert date_triggers_handle() == 1
        assert date_triggers_handle() == 0

    assert flow.enrollments.get().profile == birthday


def test_days_before_a_date_trait_enrolls():
    flow = live_flow(
        [WAIT],
        trigger={"type": "date", "attr": "traits.renewal", "offset_days": -3, "annual": False},
    )
    due = ProfileFactory(traits={"renewal": "2026-12-10"})
    ProfileFactory(traits={"renewal": "2026-12-11"})

    noon = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=timezone.get_default_timezone())
    with time_machine.travel(noon, tick=False):
        assert date_triggers_handle() == 1

    assert flow.enrollments.get().profile == due


def test_opening_the_named_campaign_enrolls():
    news = Campaign.objects.create(name="News", slug="news", channel="email")
    other = Campaign.objects.create(name="Other", slug="other", channel="email")
    flow = live_flow([WAIT], trigger={"type": "message", "message": "opened", "campaign": "news"})
    reader, stranger = ProfileFactory(), ProfileFactory()

    flows_engagement_receive(
        SimpleNamespace(kind="open", campaign_id=news.pk, profile_id=reader.pk)
    )
    flows_engagement_receive(
        SimpleNamespace(kind="open", campaign_id=other.pk, profile_id=stranger.pk)
    )
    flows_engagement_receive(
        SimpleNamespace(kind="click", campaign_id=news.pk, profile_id=stranger.pk)
    )

    assert list(flow.enrollments.values_list("profile_id", flat=True)) == [reader.pk]


def test_an_evaluation_that_adds_members_enrolls_them_without_waiting_for_beat():
    from segments.services import segment_evaluate

    segment = Segment.objects.create(
        name="Shanghai", slug="sh", rule={"attr": "city", "op": "eq", "value": "上海"}
    )
    flow = live_flow([WAIT], trigger={"type": "segment_entered", "segment": "sh"})
    profile = ProfileFactory(city="上海")

    segment_evaluate(segment_id=segment.pk)  # the segment hook queues the transitions task (eager)

    assert flow.enrollments.get().profile == profile


def test_withdrawing_consent_stops_the_enrollment_at_its_next_step():
    from profiles.services.consent import ConsentEntry, consent_record

    flow = live_flow(
        [{"key": "w", "kind": "wait", "duration": {"hours": 1}}, {"key": "x", "kind": "exit"}],
        exit=[{"consent_withdrawn": "email"}],
    )
    profile = ProfileFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        flow_enroll(flow=flow, profile_ids=[profile.pk])
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="email", purpose="marketing", status="withdrawn",
            source="web_form",
        )
    )  # fmt: skip

    with time_machine.travel(start + datetime.timedelta(hours=2), tick=False):
        from flows.engine import enrollments_advance

        enrollments_advance()

    enrollment = flow.enrollments.get()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "consent_withdrawn:email")
