"""Pick the winner of "test then winner" campaigns once their test window has passed.

The chosen metric (open, click or conversion rate) is measured on the test share only. The best
variant wins only when it is significantly better than every other one (two-sided two-proportion
z-test, p < 0.05, and a higher rate); otherwise the campaign follows its fallback: send the first
variant, or keep splitting the rest by weight. The decision and its numbers are stored in
``Campaign.winner_decision`` (and the campaign's history).
"""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.results import ALPHA, WINNER_METRIC_RATE, campaign_results, two_proportion_z_test
from campaigns.services.audience import campaign_waiting_split, campaign_winner_set

logger = logging.getLogger(__name__)


def campaigns_awaiting_winner(*, now: datetime.datetime | None = None) -> list[Campaign]:
    """Return the sending test-then-winner campaigns without a decision whose window is over."""
    now = now or timezone.now()
    candidates = Campaign.objects.filter(
        status=Campaign.Status.SENDING,
        winner_mode=Campaign.WinnerMode.TEST_THEN_WINNER,
        winner__isnull=True,
        winner_decided_at__isnull=True,
        started_at__isnull=False,
    )
    return [
        campaign
        for campaign in candidates
        if campaign.started_at + datetime.timedelta(hours=campaign.winner_delay_hours) <= now
    ]


def winner_decision_make(*, campaign: Campaign) -> dict:
    """Return the decision for a campaign from its test share: the numbers and the outcome.

    ``outcome`` is ``winner`` (``winner`` holds the key), ``fallback_first`` or
    ``fallback_split``.
    """
    metric = WINNER_METRIC_RATE[campaign.winner_metric]
    results = campaign_results(campaign=campaign, test_only=True)
    rows = results["variants"]
    rates = {row["key"]: row[metric].as_dict() for row in rows}
    measured = [row for row in rows if row[metric].trials > 0]
    best = max(measured, key=lambda row: row[metric].rate, default=None)
    tests, beats_all = _best_against_others(rows, best, metric)
    significant = best is not None and len(rows) > 1 and len(measured) == len(rows) and beats_all
    decision = {
        "by": "auto",
        "metric": campaign.winner_metric,
        "alpha": ALPHA,
        "rates": rates,
        "best": best["key"] if best else None,
        "tests": tests,
        "significant": bool(significant),
        "decided_at": timezone.now().isoformat(),
    }
    if significant:
        decision.update(outcome="winner", winner=best["key"])
    elif campaign.winner_fallback == Campaign.WinnerFallback.SPLIT:
        decision.update(outcome="fallback_split", winner=None)
    else:
        decision.update(outcome="fallback_first", winner=rows[0]["key"] if rows else None)
    return decision


def _best_against_others(rows: list[dict], best: dict | None, metric: str) -> tuple[dict, bool]:
    """Test ``best`` against every other variant on ``metric``.

    Return the tests by variant key ({z, p}, or None when a side has no trials) and whether
    ``best`` is significantly higher than each of them.
    """
    tests: dict = {}
    beats_all = True
    for row in rows:
        if best is None or row is best:
            continue
        a, b = row[metric], best[metric]
        test = two_proportion_z_test(a.successes, a.trials, b.successes, b.trials)
        tests[row["key"]] = None if test is None else {"z": test[0], "p": test[1]}
        if test is None or not (test[1] < ALPHA and b.rate > a.rate):
            beats_all = False
    return tests, beats_all


def campaign_winner_pick(*, campaign_id: int, now: datetime.datetime | None = None) -> dict | None:
    """Decide one campaign (locked, so two schedulers decide it once); return the decision."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign_id, winner__isnull=True, winner_decided_at__isnull=True)
            .first()
        )
        if campaign is None or campaign not in campaigns_awaiting_winner(now=now):
            return None
        decision = winner_decision_make(campaign=campaign)
        if decision["outcome"] == "fallback_split":
            campaign_waiting_split(campaign=campaign, decision=decision)
        elif decision["winner"] is not None:
            variant = campaign.variants.get(key=decision["winner"])
            campaign_winner_set(campaign=campaign, variant=variant, decision=decision)
    return decision


def campaigns_winners_pick(*, now: datetime.datetime | None = None) -> list[int]:
    """Decide every campaign whose test window has passed; return their ids (run by beat)."""
    decided = []
    for campaign in campaigns_awaiting_winner(now=now):
        try:
            if campaign_winner_pick(campaign_id=campaign.pk, now=now) is not None:
                decided.append(campaign.pk)
        except Exception:  # one broken campaign must not stop the others
            logger.exception("Campaign %s: the winner could not be picked", campaign.pk)
    return decided
