"""Campaigns of flow steps: a ledger row per entry, out of the lists, sent but never started or
finished by the tick, and never picked by triggers."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.api.serializers import CampaignWriteSerializer
from campaigns.delivery import campaign_send, campaigns_tick
from campaigns.forms import CampaignForm
from campaigns.models import Campaign, Send
from campaigns.selectors import campaigns_all, campaigns_recent_results
from campaigns.services.audience import (
    campaign_sends_move,
    campaign_start,
    campaign_triggers_process,
)
from campaigns.services.workflow import ERROR_FLOW_STEP, campaign_schedule
from journeys.models import JourneyStage, StageTransition
from journeys.services import stage_triggers_process
from segments.models import SegmentTransition
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

pytestmark = pytest.mark.django_db

S = Campaign.Status
FLOW = Campaign.Kind.FLOW


@pytest.fixture(autouse=True)
def delivery_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_RATE_LIMIT_EMAIL = 0
    settings.CAMPAIGN_WORKERS = 1
    return settings


def flow_step(slug="welcome-step", status=S.SENDING, **fields) -> Campaign:
    fields.setdefault("started_at", timezone.now())
    return campaign_ready(slug=slug, kind=FLOW, status=status, send_at=None, **fields)


def test_a_profile_may_have_one_row_per_entry_of_a_campaign_but_not_two_of_one_entry():
    (profile,) = profiles_make(1)
    campaign = flow_step()
    Send.objects.create(campaign=campaign, profile=profile, entry=0)
    Send.objects.create(campaign=campaign, profile=profile, entry=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        Send.objects.create(campaign=campaign, profile=profile, entry=1)

    assert sorted(Send.objects.values_list("entry", flat=True)) == [0, 1]


def test_starting_a_campaign_twice_still_adds_nobody_twice():
    profiles = profiles_make(3)
    campaign = campaign_ready(include=[segment_with(profiles)])
    campaign_start(campaign_id=campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(status=S.SCHEDULED)

    campaign_start(campaign_id=campaign.pk)

    assert list(Send.objects.values_list("entry", flat=True)) == [0, 0, 0]


def test_a_merge_keeps_the_targets_row_of_the_same_entry_and_moves_the_other_entries():
    source, target = profiles_make(2, consent=False)
    campaign = flow_step()
    kept = Send.objects.create(campaign=campaign, profile=target, entry=0)
    Send.objects.create(campaign=campaign, profile=source, entry=0)
    Send.objects.create(campaign=campaign, profile=source, entry=1)

    moved = campaign_sends_move(source=source, target=target)

    assert moved == 1
    rows = Send.objects.filter(profile=target).order_by("entry")
    assert [(row.pk == kept.pk, row.entry) for row in rows] == [(True, 0), (False, 1)]


def test_flow_steps_are_left_out_of_the_lists_and_the_dashboard():
    (profile,) = profiles_make(1)
    one_off = campaign_ready(slug="one-off", status=S.SENDING, started_at=timezone.now())
    flow_step()
    Send.objects.create(campaign=one_off, profile=profile)

    listed = [campaign.slug for campaign in campaigns_all()]
    dashboard = [row["slug"] for row in campaigns_recent_results()]

    assert listed == ["one-off"]
    assert dashboard == ["one-off"]


def test_the_list_page_and_api_leave_flow_steps_out_but_show_one_by_its_slug(ops_user):
    campaign_ready(slug="one-off")
    flow_step()
    api = APIClient()
    api.force_login(ops_user)

    page = api.get("/campaigns/").content.decode()
    listed = api.get("/api/v1/campaigns/").json()["results"]
    shown = api.get("/api/v1/campaigns/welcome-step/")
    detail = api.get("/campaigns/welcome-step/")

    assert "/campaigns/one-off/" in page
    assert "welcome-step" not in page
    assert [row["slug"] for row in listed] == ["one-off"]
    assert shown.status_code == 200
    assert shown.json()["kind"] == "flow"
    assert detail.status_code == 200


def test_people_cannot_make_a_flow_step_by_hand():
    form = CampaignForm()
    serializer = CampaignWriteSerializer(data={"name": "X", "channel": "email", "kind": "flow"})

    assert "flow" not in dict(form.fields["kind"].choices)
    assert not serializer.is_valid()
    assert "kind" in serializer.errors


def test_a_flow_step_cannot_be_scheduled(campaign_manager):
    campaign = flow_step(status=S.DRAFT)

    with pytest.raises(ValidationError) as refused:
        campaign_schedule(
            campaign=campaign,
            send_at=timezone.now() + datetime.timedelta(hours=1),
            user=campaign_manager,
        )

    assert refused.value.messages == [str(ERROR_FLOW_STEP)]
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT


def test_the_tick_neither_starts_nor_finishes_a_flow_step():
    scheduled = flow_step(
        slug="scheduled-step",
        status=S.SCHEDULED,
        started_at=None,
        include=[segment_with(profiles_make(2))],
    )
    Campaign.objects.filter(pk=scheduled.pk).update(send_at=timezone.now())
    live = flow_step()

    ticked = campaigns_tick()

    assert ticked == {"started": [], "queued": [], "finished": []}
    assert not Send.objects.exists()
    assert Campaign.objects.get(pk=scheduled.pk).status == S.SCHEDULED
    assert Campaign.objects.get(pk=live.pk).status == S.SENDING


def test_rows_a_flow_queues_are_sent_by_the_tick_and_the_step_stays_sending(
    django_capture_on_commit_callbacks,
):
    profiles = profiles_make(2)
    campaign = flow_step()
    variant = campaign.variants.first()
    Send.objects.bulk_create(
        [
            Send(campaign=campaign, profile=profiles[0], variant=variant, entry=0),
            Send(campaign=campaign, profile=profiles[0], variant=variant, entry=1),
            Send(campaign=campaign, profile=profiles[1], variant=variant, entry=0),
        ]
    )

    with django_capture_on_commit_callbacks(execute=True):
        ticked = campaigns_tick()  # eager tasks in tests: the send task runs at once
    campaign_send(campaign_id=campaign.pk)

    assert ticked["queued"] == [campaign.pk]
    assert sorted(Send.objects.values_list("status", flat=True)) == ["sent"] * 3
    assert len(mail.outbox) == 3
    assert Campaign.objects.get(pk=campaign.pk).status == S.SENDING


def test_triggers_never_pick_a_flow_step():
    profiles = profiles_make(1)
    segment = segment_with(profiles, slug="entered")
    stage = JourneyStage.objects.create(slug="joined", name="Joined", position=90, rule={})
    by_segment = flow_step(slug="by-segment", trigger_segment=segment)
    flow_step(slug="by-stage", trigger_stage=stage.slug)
    SegmentTransition.objects.create(
        segment=segment, profile=profiles[0], entered=True, version=1, at=timezone.now()
    )
    StageTransition.objects.create(
        profile=profiles[0], to_stage=stage, at=timezone.now() + datetime.timedelta(seconds=1)
    )

    added = campaign_triggers_process(campaign_id=by_segment.pk) + stage_triggers_process()

    assert added == 0
    assert not Send.objects.exists()
