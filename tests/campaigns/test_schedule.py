"""The beat tick, quiet hours and the delivery settings."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from campaigns.delivery import (
    campaign_send,
    campaign_send_batch,
    campaigns_tick,
    quiet_hours_end,
)
from campaigns.models import Campaign, Send
from campaigns.services.audience import campaign_start
from config.celery import app
from config.settings import env_quiet_hours
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tests.conftest import wait_for

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(hour, minute=0, day=10):
    return datetime.datetime(2025, 3, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def delivery_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.CAMPAIGN_QUIET_HOURS = "21:00-08:00"
    settings.CAMPAIGN_FREQUENCY_CAP = 0
    settings.CAMPAIGN_RATE_LIMIT_EMAIL = 0
    settings.CAMPAIGN_WORKERS = 2
    return settings


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(22, 30), at(8, 0, day=11)),
        (at(3, 0), at(8, 0)),
        (at(8, 0), None),
        (at(20, 59), None),
        (at(21, 0), at(8, 0, day=11)),
    ],
)
def test_quiet_hours_across_midnight_end_at_the_next_morning(now, expected):
    assert quiet_hours_end(now=now) == expected


def test_quiet_hours_within_a_day(settings):
    settings.CAMPAIGN_QUIET_HOURS = "12:00-14:00"

    assert quiet_hours_end(now=at(13, 0)) == at(14, 0)
    assert quiet_hours_end(now=at(14, 0)) is None
    assert quiet_hours_end(now=at(11, 59)) is None


def test_quiet_hours_are_read_in_the_configured_time_zone():
    utc_evening = datetime.datetime(2025, 3, 10, 14, 30, tzinfo=datetime.UTC)  # 22:30 Shanghai

    assert quiet_hours_end(now=utc_evening) == at(8, 0, day=11)


@pytest.mark.parametrize("value", ["25:00-08:00", "21:00", "21:00-21:00", "9pm-8am", "21:60-08:00"])
def test_bad_quiet_hours_are_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("CAMPAIGN_QUIET_HOURS", value)

    with pytest.raises(ImproperlyConfigured, match="CAMPAIGN_QUIET_HOURS"):
        env_quiet_hours("CAMPAIGN_QUIET_HOURS")


def test_good_quiet_hours_are_normalised(monkeypatch):
    monkeypatch.setenv("CAMPAIGN_QUIET_HOURS", " 9:30-7:05 ")

    assert env_quiet_hours("CAMPAIGN_QUIET_HOURS") == "09:30-07:05"


def test_a_bad_quiet_hours_setting_is_refused_at_send_time(settings):
    settings.CAMPAIGN_QUIET_HOURS = "later"

    with pytest.raises(ImproperlyConfigured, match="CAMPAIGN_QUIET_HOURS"):
        quiet_hours_end(now=at(12, 0))


@pytest.mark.django_db
def test_messages_due_in_quiet_hours_wait_until_the_morning():
    profiles = profiles_make(3)
    campaign = campaign_ready(include=[segment_with(profiles)], send_at=at(22, 0))

    with time_machine.travel(at(22, 30), tick=False) as clock:
        campaign_start(campaign_id=campaign.pk)
        night = campaign_send_batch(campaign_id=campaign.pk)
        rows = Send.objects.filter(campaign=campaign)
        assert night.deferred == 3
        assert mail.outbox == []
        assert set(rows.values_list("status", flat=True)) == {Send.Status.QUEUED}
        assert set(rows.values_list("not_before", flat=True)) == {at(8, 0, day=11)}
        clock.move_to(at(7, 59, day=11))
        assert campaign_send_batch(campaign_id=campaign.pk).claimed == 0
        clock.move_to(at(8, 1, day=11))
        morning = campaign_send(campaign_id=campaign.pk)

    assert morning.sent == 3
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_the_tick_starts_due_campaigns_and_queues_their_batches(
    settings, django_capture_on_commit_callbacks
):
    settings.CAMPAIGN_QUIET_HOURS = ""
    profiles = profiles_make(5)
    segment = segment_with(profiles)
    due = campaign_ready(include=[segment], slug="due")
    later = campaign_ready(
        include=[segment],
        slug="later",
        send_at=datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(hours=2),
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ticked = campaigns_tick()  # eager tasks in tests: the batches run at once
    second = campaigns_tick()

    assert ticked["started"] == [due.pk]
    assert ticked["queued"] == [due.pk]
    assert len(callbacks) == 2  # CAMPAIGN_WORKERS send tasks
    assert len(mail.outbox) == 5
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == Campaign.Status.SENT
    assert later.status == Campaign.Status.SCHEDULED
    assert second == {"started": [], "queued": [], "finished": []}


def test_beat_runs_the_tick_often_and_the_sweep():
    tasks = {
        entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
    }

    assert tasks["campaigns.tasks.campaigns_tick_task"] <= 15
    assert "campaigns.tasks.campaign_sends_sweep_task" in tasks


@pytest.mark.worker
def test_a_worker_process_starts_and_sends_a_due_campaign_from_the_tick(
    celery_worker_process, settings
):
    profiles = profiles_make(6)
    campaign = campaign_ready(include=[segment_with(profiles)], holdout_percent=10)

    app.send_task("campaigns.tasks.campaigns_tick_task")

    def campaign_sent():
        """the worker to start the campaign, send its batches and mark it sent"""
        return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENT).first()

    done = wait_for(campaign_sent)
    rows = Send.objects.filter(campaign=campaign)
    assert done.finished_at is not None
    assert rows.count() == 6
    assert set(rows.values_list("status", flat=True)) <= {Send.Status.SENT, Send.Status.HOLDOUT}
    assert (
        rows.filter(status=Send.Status.SENT).exclude(message_id="").count()
        == rows.filter(status=Send.Status.SENT).count()
    )
