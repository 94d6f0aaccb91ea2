"""Freezing a campaign's audience into the send ledger: who gets a row, which group, once."""

import datetime
import threading
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, CampaignChange, Send
from campaigns.services import audience
from campaigns.services.audience import (
    BUCKETS,
    assignment_bucket,
    campaign_audience_freeze,
    campaign_sends_move,
    campaign_split,
    campaign_start,
    campaign_triggers_process,
    campaign_winner_set,
)
from segments.models import SegmentTransition
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

pytestmark = pytest.mark.django_db


def test_it_writes_one_row_per_member_of_any_include_segment_minus_the_excluded():
    first, second, both, excluded = (profiles_make(3) for _ in range(4))
    buyers = segment_with(first + both + excluded, slug="buyers")
    visitors = segment_with(second + both, slug="visitors")
    churned = segment_with(excluded, slug="churned")
    campaign = campaign_ready(include=[buyers, visitors], exclude=[churned])

    started = campaign_start(campaign_id=campaign.pk)

    assert started.status == Campaign.Status.SENDING
    ledger = Send.objects.filter(campaign=campaign)
    assert sorted(ledger.values_list("profile_id", flat=True)) == sorted(
        p.pk for p in first + second + both
    )
    assert CampaignChange.objects.filter(campaign=campaign, action="started").count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="planner statistics are refreshed on PostgreSQL"
)
def test_a_large_audience_refreshes_the_ledger_statistics_once_frozen(monkeypatch):
    monkeypatch.setattr(audience, "ANALYZE_FROM", 3)
    small = campaign_ready(include=[segment_with(profiles_make(2), slug="small")], slug="small")
    large = campaign_ready(include=[segment_with(profiles_make(3), slug="large")], slug="large")

    with CaptureQueriesContext(connection) as queries:
        campaign_start(campaign_id=small.pk)
    assert not [q for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]
    with CaptureQueriesContext(connection) as queries:
        campaign_start(campaign_id=large.pk)
    assert [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")] == [
        'ANALYZE "campaigns_send"'
    ]


def test_the_ledger_statistics_are_refreshed_from_many_rows_queued_at_once_on_postgresql(
    monkeypatch,
):
    monkeypatch.setattr(audience, "ANALYZE_FROM", 3)

    with CaptureQueriesContext(connection) as few:
        assert not audience.ledger_statistics_refresh(added=2)
    with CaptureQueriesContext(connection) as many:
        refreshed = audience.ledger_statistics_refresh(added=3)

    assert not few.captured_queries
    assert refreshed == (connection.vendor == "postgresql")
    analyzed = [q["sql"] for q in many.captured_queries if q["sql"].startswith("ANALYZE")]
    assert analyzed == (['ANALYZE "campaigns_send"'] if refreshed else [])


def test_the_holdout_gets_no_variant_and_the_rest_is_queued():
    profiles = profiles_make(200, consent=False)
    campaign = campaign_ready(include=[segment_with(profiles)], holdout_percent=20)

    campaign_start(campaign_id=campaign.pk)

    rows = Send.objects.filter(campaign=campaign)
    holdout = rows.filter(status=Send.Status.HOLDOUT)
    assert 20 <= holdout.count() <= 65
    assert not holdout.filter(variant__isnull=False).exists()
    assert not rows.exclude(status=Send.Status.HOLDOUT).filter(variant__isnull=True).exists()
    assert rows.exclude(status=Send.Status.HOLDOUT).count() == 200 - holdout.count()


def test_a_rerun_never_moves_anyone_even_after_the_weights_change():
    profiles = profiles_make(60, consent=False)
    campaign = campaign_ready(include=[segment_with(profiles)], holdout_percent=10)
    campaign_start(campaign_id=campaign.pk)
    before = set(Send.objects.values_list("profile_id", "variant_id", "status", "in_test"))
    campaign.variants.filter(key="A").update(weight=1)
    campaign.holdout_percent = 40
    campaign.save()

    campaign_audience_freeze(campaign=campaign)

    after = set(Send.objects.values_list("profile_id", "variant_id", "status", "in_test"))
    assert after == before
    assert Send.objects.count() == 60


def test_the_assignment_is_deterministic_and_follows_the_weights():
    campaign = campaign_ready(weights=(45, 45, 10), holdout_percent=10)
    split = campaign_split(campaign=campaign)
    keys = dict(campaign.variants.values_list("pk", "key"))

    groups = Counter()
    for profile_id in range(1, 10_001):
        status, variant_id, _in_test = split.assign(
            assignment_bucket(campaign_id=campaign.pk, profile_id=profile_id)
        )
        groups[keys.get(variant_id, status)] += 1

    assert assignment_bucket(campaign_id=7, profile_id=9) == assignment_bucket(
        campaign_id=7, profile_id=9
    )
    assert 0 <= assignment_bucket(campaign_id=7, profile_id=9) < BUCKETS
    expected = {"holdout": 1000, "A": 4050, "B": 4050, "C": 900}
    for group, count in expected.items():
        assert abs(groups[group] - count) < 200, (group, groups)


def test_a_campaign_not_due_yet_is_not_started():
    profiles = profiles_make(2, consent=False)
    later = timezone.now() + datetime.timedelta(hours=1)
    campaign = campaign_ready(include=[segment_with(profiles)], send_at=later)

    assert campaign_start(campaign_id=campaign.pk) is None

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert not Send.objects.exists()


def test_test_then_winner_waits_for_the_winner_then_queues_it(campaign_manager):
    profiles = profiles_make(100, consent=False)
    campaign = campaign_ready(
        include=[segment_with(profiles)],
        winner_mode=Campaign.WinnerMode.TEST_THEN_WINNER,
        test_percent=30,
    )
    campaign_start(campaign_id=campaign.pk)
    rows = Send.objects.filter(campaign=campaign)
    tested = rows.filter(in_test=True, status=Send.Status.QUEUED)
    waiting = rows.filter(status=Send.Status.WAITING, variant__isnull=True)
    assert 10 <= tested.count() <= 55
    assert tested.count() + waiting.count() == 100
    winner = campaign.variants.get(key="B")

    queued = campaign_winner_set(campaign=campaign, variant=winner, user=campaign_manager)

    assert queued == 100 - tested.count()
    assert not rows.filter(status=Send.Status.WAITING).exists()
    assert rows.filter(in_test=False, variant=winner, status=Send.Status.QUEUED).count() == queued
    campaign.refresh_from_db()
    assert campaign.winner == winner
    change = CampaignChange.objects.get(campaign=campaign, action="winner_set")
    assert change.user == campaign_manager
    assert change.detail["variant"] == "B"


def _enter(segment, profiles, version):
    SegmentTransition.objects.bulk_create(
        SegmentTransition(
            segment=segment, profile=p, entered=True, version=version, at=timezone.now()
        )
        for p in profiles
    )


def test_a_triggered_campaign_adds_profiles_entering_after_it_started_once_each():
    early, late, again = profiles_make(2), profiles_make(3), profiles_make(1)
    trigger = segment_with([], slug="first-purchase")
    churned = segment_with(again, slug="churned")
    _enter(trigger, early, 1)
    campaign = campaign_ready(
        kind=Campaign.Kind.TRIGGERED, trigger_segment=trigger, exclude=[churned]
    )
    campaign_start(campaign_id=campaign.pk)
    _enter(trigger, late + again, 2)

    added = campaign_triggers_process(campaign_id=campaign.pk)
    _enter(trigger, late[:1], 3)  # left and entered again: no second message
    added_again = campaign_triggers_process(campaign_id=campaign.pk)

    assert added == 3
    assert added_again == 0
    assert sorted(Send.objects.values_list("profile_id", flat=True)) == sorted(p.pk for p in late)
    campaign.refresh_from_db()
    assert campaign.trigger_cursor == SegmentTransition.objects.latest("pk").pk


def test_a_merge_moves_the_sources_sends_and_keeps_the_targets_on_a_shared_campaign():
    source, target = profiles_make(2, consent=False)
    shared = campaign_ready(include=[segment_with([source, target])], slug="shared")
    only_source = campaign_ready(include=[segment_with([source], slug="solo")], slug="solo")
    campaign_start(campaign_id=shared.pk)
    campaign_start(campaign_id=only_source.pk)
    kept = Send.objects.get(campaign=shared, profile=target)

    moved = campaign_sends_move(source=source, target=target)

    assert moved == 1
    assert set(Send.objects.filter(profile=target).values_list("campaign_id", flat=True)) == {
        shared.pk,
        only_source.pk,
    }
    assert Send.objects.get(campaign=shared, profile=target).pk == kept.pk
    assert not Send.objects.filter(profile=source).exists()


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_starting_one_campaign_at_once_start_it_once():
    profiles = profiles_make(50, consent=False)
    campaign = campaign_ready(include=[segment_with(profiles)])
    barrier = threading.Barrier(2)
    results = []

    def start():
        try:
            barrier.wait()
            results.append(campaign_start(campaign_id=campaign.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(result is not None for result in results) == 1
    assert Send.objects.filter(campaign=campaign).count() == 50
    assert CampaignChange.objects.filter(campaign=campaign, action="started").count() == 1
