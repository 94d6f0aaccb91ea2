"""The campaign workflow: create, edit, schedule, pause, resume, cancel and test sends."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import sms
from campaigns.models import Campaign, CampaignChange, Channel, Send
from campaigns.services import workflow
from campaigns.services.workflow import (
    CampaignStateError,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_test_send,
    campaign_update,
)
from tests.campaigns.campaign_builders import campaign_make, in_an_hour, segment_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

S = Campaign.Status


def _data(**overrides):
    data = {
        "name": "春季促销",
        "channel": Channel.EMAIL,
        "include_segments": [segment_make()],
        "holdout_percent": 10,
        "variants": [
            {"key": "A", "weight": 50, "subject": "Hi {{ name }}", "body_text": "A"},
            {"key": "B", "weight": 50, "subject": "Hello {{ name }}", "body_text": "B"},
        ],
    }
    data.update(overrides)
    return data


def test_it_creates_a_draft_with_variants_and_records_who(campaign_manager):
    campaign = campaign_create(data=_data(), user=campaign_manager)

    assert campaign.status == S.DRAFT
    assert campaign.slug == "campaign"
    assert list(campaign.variants.values_list("key", "weight")) == [("A", 50), ("B", 50)]
    change = campaign.changes.get()
    assert (change.action, change.user) == ("created", campaign_manager)


def test_two_campaigns_with_the_same_name_get_distinct_slugs(campaign_manager):
    first = campaign_create(data=_data(name="Spring"), user=campaign_manager)
    second = campaign_create(data=_data(name="Spring"), user=campaign_manager)

    assert (first.slug, second.slug) == ("spring", "spring-2")


def test_an_unknown_variable_is_refused_at_save_time(campaign_manager):
    data = _data(variants=[{"key": "A", "weight": 1, "subject": "{{ nick }}", "body_text": "x"}])

    with pytest.raises(ValidationError) as caught:
        campaign_create(data=data, user=campaign_manager)

    assert "nick" in " ".join(caught.value.message_dict["variants"])
    assert not Campaign.objects.exists()


def test_an_incomplete_draft_can_be_saved(campaign_manager):
    data = _data(include_segments=[], variants=[{"key": "A", "weight": 1}])

    campaign = campaign_create(data=data, user=campaign_manager)

    assert campaign.pk


def test_a_holdout_above_half_is_refused(campaign_manager):
    with pytest.raises(ValidationError) as caught:
        campaign_create(data=_data(holdout_percent=60), user=campaign_manager)

    assert caught.value.message_dict["holdout_percent"] == [workflow.ERROR_HOLDOUT]


def test_update_replaces_variants_and_records_fields(campaign_manager):
    campaign = campaign_make()

    campaign_update(
        campaign=campaign,
        data={"name": "New", "variants": [{"key": "C", "weight": 3, "body_text": "c"}]},
        user=campaign_manager,
    )

    assert campaign.name == "New"
    assert list(campaign.variants.values_list("key", flat=True)) == ["C"]
    assert campaign.changes.get().detail == {"fields": ["name", "variants"]}


@pytest.mark.parametrize("status", [S.SENDING, S.PAUSED, S.SENT, S.CANCELLED])
def test_content_is_frozen_once_sending_starts(campaign_manager, status):
    campaign = campaign_make(status=status)

    with pytest.raises(CampaignStateError):
        campaign_update(campaign=campaign, data={"name": "x"}, user=campaign_manager)


def test_a_scheduled_campaign_must_stay_complete(campaign_manager):
    campaign = campaign_make(status=S.SCHEDULED, send_at=in_an_hour())

    with pytest.raises(ValidationError) as caught:
        campaign_update(campaign=campaign, data={"include_segments": []}, user=campaign_manager)

    assert caught.value.message_dict["include_segments"] == [workflow.ERROR_NO_AUDIENCE]


def test_it_schedules_a_complete_draft_in_utc(campaign_manager):
    campaign = campaign_make()
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    send_at = (timezone.now() + datetime.timedelta(days=1)).astimezone(shanghai)

    campaign_schedule(campaign=campaign, send_at=send_at, user=campaign_manager)

    campaign.refresh_from_db()
    assert campaign.status == S.SCHEDULED
    assert campaign.send_at == send_at
    assert campaign.changes.first().action == "scheduled"


def test_it_refuses_a_send_time_in_the_past(campaign_manager):
    campaign = campaign_make()

    with pytest.raises(ValidationError) as caught:
        campaign_schedule(
            campaign=campaign,
            send_at=timezone.now() - datetime.timedelta(minutes=1),
            user=campaign_manager,
        )

    assert caught.value.message_dict["send_at"] == [workflow.ERROR_SEND_AT_PAST]


def test_it_refuses_to_schedule_without_an_audience_or_content(campaign_manager):
    campaign = campaign_make(segment=False)
    campaign.variants.filter(key="B").update(subject="")

    with pytest.raises(ValidationError) as caught:
        campaign_schedule(campaign=campaign, send_at=in_an_hour(), user=campaign_manager)

    errors = caught.value.message_dict
    assert errors["include_segments"] == [workflow.ERROR_NO_AUDIENCE]
    assert "B" in errors["variants"][0]
    assert Campaign.objects.get().status == S.DRAFT


def test_scheduling_twice_is_refused_with_a_clear_message(campaign_manager):
    campaign = campaign_make()
    campaign_schedule(campaign=campaign, send_at=in_an_hour(), user=campaign_manager)

    with pytest.raises(CampaignStateError) as caught:
        campaign_schedule(campaign=campaign, send_at=in_an_hour(), user=campaign_manager)

    assert caught.value.messages == ["A scheduled campaign cannot be scheduled."]


def test_a_stale_copy_cannot_win_a_transition(campaign_manager):
    campaign = campaign_make(status=S.SENDING)
    stale = Campaign.objects.get(pk=campaign.pk)
    campaign_cancel(campaign=campaign, user=campaign_manager)

    with pytest.raises(CampaignStateError):
        campaign_pause(campaign=stale, user=campaign_manager)

    assert Campaign.objects.get().status == S.CANCELLED


def test_pause_and_resume_a_sending_campaign(campaign_manager):
    campaign = campaign_make(status=S.SENDING)

    campaign_pause(campaign=campaign, user=campaign_manager)
    paused = campaign.status
    campaign_resume(campaign=campaign, user=campaign_manager)

    assert (paused, campaign.status) == (S.PAUSED, S.SENDING)
    assert list(campaign.changes.values_list("action", flat=True)) == ["resumed", "paused"]


@pytest.mark.parametrize(
    ("status", "action"),
    [(S.DRAFT, campaign_pause), (S.SENDING, campaign_resume), (S.SENT, campaign_cancel)],
)
def test_invalid_transitions_are_refused(campaign_manager, status, action):
    campaign = campaign_make(status=status)

    with pytest.raises(CampaignStateError):
        action(campaign=campaign, user=campaign_manager)

    assert not CampaignChange.objects.exists()


def test_cancel_skips_queued_and_waiting_rows_but_not_sent_ones(campaign_manager):
    campaign = campaign_make(status=S.SENDING)
    statuses = [Send.Status.QUEUED, Send.Status.WAITING, Send.Status.SENT, Send.Status.SENDING]
    for status in statuses:
        Send.objects.create(campaign=campaign, profile=ProfileFactory(), status=status)

    campaign_cancel(campaign=campaign, user=campaign_manager)

    rows = dict(campaign.sends.values_list("status", "skip_reason").order_by("status"))
    assert rows == {"skipped": "cancelled", "sent": "", "sending": ""}
    assert campaign.changes.first().detail == {"skipped": 2}
    assert campaign.finished_at is not None


def test_a_test_email_is_personalised_for_a_chosen_profile(campaign_manager):
    campaign = campaign_make()
    profile = ProfileFactory(name="Ann", city="上海")

    campaign_test_send(
        campaign=campaign,
        variant=campaign.variants.get(key="A"),
        to="me@example.com",
        profile=profile,
        user=campaign_manager,
    )

    (message,) = mail.outbox
    assert message.to == ["me@example.com"]
    assert message.subject == "[Test] Hello Ann"
    assert message.body == "Hi Ann in 上海"
    assert campaign.changes.first().action == "test_sent"


def test_a_test_email_to_a_bad_address_is_refused(campaign_manager):
    campaign = campaign_make()

    with pytest.raises(ValidationError) as caught:
        campaign_test_send(
            campaign=campaign,
            variant=campaign.variants.first(),
            to="not an address",
            user=campaign_manager,
        )

    assert caught.value.message_dict["to"] == [workflow.ERROR_BAD_EMAIL]
    assert mail.outbox == []


def test_a_test_sms_goes_through_the_sms_backend(campaign_manager, settings):
    settings.SMS_BACKEND = "campaigns.sms.LocmemBackend"
    sms.outbox.clear()
    campaign = campaign_make(channel=Channel.SMS)

    campaign_test_send(
        campaign=campaign,
        variant=campaign.variants.get(key="B"),
        to="+86 138 0013 8000",
        user=campaign_manager,
    )

    (sent,) = sms.outbox
    assert sent.to == "+8613800138000"
    assert sent.text == "Dear Li Wei回T退订"  # a marketing text gets the opt-out suffix
