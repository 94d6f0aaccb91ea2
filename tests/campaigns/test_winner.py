"""Test then winner: the winner is picked automatically only when it is significantly better."""

import datetime

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignChange, Send, TrackingEvent
from campaigns.results import two_proportion_z_test
from campaigns.tasks import campaign_winners_pick_task
from campaigns.winner import campaigns_winners_pick
from tests.campaigns.results_builders import campaign_started, ledger_add, track

pytestmark = pytest.mark.django_db


def ttw_campaign(*, clicks_a, clicks_b, fallback="first", hours_ago=25, n=100, slug="ttw"):
    campaign = campaign_started(
        slug=slug,
        started_at=timezone.now() - datetime.timedelta(hours=hours_ago),
        winner_mode=Campaign.WinnerMode.TEST_THEN_WINNER,
        winner_metric=Campaign.WinnerMetric.CLICKS,
        winner_delay_hours=24,
        winner_fallback=fallback,
        test_percent=20,
    )
    a = ledger_add(campaign, n, variant="A", in_test=True)
    b = ledger_add(campaign, n, variant="B", in_test=True)
    track(a[:clicks_a], TrackingEvent.Kind.CLICK)
    track(b[:clicks_b], TrackingEvent.Kind.CLICK, times=2)  # repeated clicks count once
    ledger_add(campaign, 40, status=Send.Status.WAITING)
    return campaign


def waiting_variants(campaign):
    rows = Send.objects.filter(campaign=campaign, in_test=False)
    return sorted(set(rows.values_list("status", "variant__key")))


def test_a_significantly_better_variant_wins_and_the_waiting_rows_get_it():
    campaign = ttw_campaign(clicks_a=10, clicks_b=30)

    decided = campaigns_winners_pick()

    campaign.refresh_from_db()
    assert decided == [campaign.pk]
    assert campaign.winner.key == "B"
    assert waiting_variants(campaign) == [("queued", "B")]
    decision = campaign.winner_decision
    _z, p = two_proportion_z_test(10, 100, 30, 100)
    assert decision["outcome"] == "winner"
    assert decision["significant"] is True
    assert decision["metric"] == "clicks"
    assert decision["rates"]["B"]["successes"] == 30
    assert decision["rates"]["A"]["trials"] == 100
    assert decision["tests"]["A"]["p"] == pytest.approx(p) and p < 0.05
    assert CampaignChange.objects.filter(campaign=campaign, action="winner_set").exists()


def test_without_a_significant_difference_the_first_variant_is_sent():
    campaign = ttw_campaign(clicks_a=10, clicks_b=13)

    campaigns_winners_pick()

    campaign.refresh_from_db()
    assert campaign.winner.key == "A"
    assert waiting_variants(campaign) == [("queued", "A")]
    decision = campaign.winner_decision
    assert (decision["outcome"], decision["best"], decision["significant"]) == (
        "fallback_first",
        "B",
        False,
    )
    assert decision["tests"]["A"]["p"] == pytest.approx(two_proportion_z_test(10, 100, 13, 100)[1])


def test_the_split_fallback_shares_the_waiting_rows_by_weight_and_records_the_decision():
    campaign = ttw_campaign(clicks_a=10, clicks_b=11, fallback="split")

    campaigns_winners_pick()

    campaign.refresh_from_db()
    assert campaign.winner is None
    assert campaign.winner_decided_at is not None
    assert campaign.winner_decision["outcome"] == "fallback_split"
    assert waiting_variants(campaign) == [("queued", "A"), ("queued", "B")]
    assert not Send.objects.filter(campaign=campaign, status=Send.Status.WAITING).exists()
    assert CampaignChange.objects.filter(campaign=campaign, action="winner_split").exists()


def test_nothing_is_decided_before_the_test_window_ends_or_twice():
    early = ttw_campaign(clicks_a=10, clicks_b=40, hours_ago=23, slug="early")
    done = ttw_campaign(clicks_a=10, clicks_b=40, slug="done")

    campaign_winners_pick_task()
    again = campaigns_winners_pick()

    early.refresh_from_db()
    done.refresh_from_db()
    assert early.winner_decided_at is None
    assert waiting_variants(early) == [("waiting", None)]
    assert done.winner.key == "B"
    assert again == []
    assert CampaignChange.objects.filter(campaign=done, action="winner_set").count() == 1
