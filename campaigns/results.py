"""Campaign results: per-variant counts, rates with confidence intervals, tests and lift.

Definitions (the results page says the same):

- *sent*: ledger rows with status sent; *delivered*: sent rows without a bounce.
- *opens* / *clicks*: sends with at least one open (a click counts as an open: images may be
  blocked) / one click; every open and click is stored, these are unique per send.
- *conversion*: a ``CAMPAIGN_CONVERSION_EVENT`` event (default ``purchase``) by the recipient
  from the message's ``sent_at`` to ``CAMPAIGN_ATTRIBUTION_DAYS`` (default 7) days later; for the
  holdout, whose members got nothing, the window starts at the campaign's ``started_at``.
  *Revenue* is the sum of those events' amounts.
- Rates: opens and clicks over delivered, conversions over sent (holdout: over its members),
  each with a 95 % Wilson score interval. Opens and clicks are tracked in email only: an SMS
  campaign's open and click rates are not measured (None), not 0 %.
- Each variant is compared with the first (the control) by a two-sided two-proportion z-test
  (pooled variance); the sample-ratio check is a chi-square goodness-of-fit of the assignment
  counts against the weights (a warning when p < 0.001); the lift compares the conversion rate of
  everyone sent a variant with the holdout's (difference: Wald interval; relative lift: the
  log risk-ratio interval).

- SMS: the providers' delivery receipts (``campaigns.receipts``) give *delivered* and *failed*
  (each over sent, with its interval; *awaiting* has no receipt yet), the failures are grouped by
  the provider's code, and *parts* sums the parts every sent text was billed as.

Two queries per campaign: one grouped count over the ledger (EXISTS on tracking events), one
grouped JOIN of the ledger with the conversion events in each row's window; an SMS campaign
two more (its receipts by variant, its failures by code).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncHour
from django.utils import timezone
from scipy import stats

from campaigns.channels import channel_get
from campaigns.models import Campaign, Send, TrackingEvent

CONFIDENCE = 0.95
ALPHA = 0.05
SRM_ALPHA = 0.001
METRICS = ("open_rate", "click_rate", "conversion_rate")


def clicks_tracked(campaign: Campaign) -> bool:
    """Return whether the campaign's channel counts clicks (tracked links, SMS short links)."""
    try:
        return channel_get(campaign.channel).clicks_tracked()
    except KeyError:
        return False


def engagement_tracked(campaign: Campaign) -> bool:
    """Return whether the campaign's channel reports opens (a pixel in email); its spec says."""
    try:
        return channel_get(campaign.channel).tracks_opens
    except KeyError:
        return False


WINNER_METRIC_RATE = {
    "opens": "open_rate",
    "clicks": "click_rate",
    "conversions": "conversion_rate",
}


def _z(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


@dataclass(frozen=True)
class Proportion:
    """A rate with its confidence interval (all None when there are no trials)."""

    successes: int
    trials: int
    rate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple:
    """Return the Wilson score interval (low, high) of successes/trials (None, None: no trials)."""
    if trials <= 0:
        return None, None
    z = _z(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(successes: int, trials: int, confidence: float = CONFIDENCE) -> Proportion:
    """Return successes/trials with its Wilson interval."""
    low, high = wilson_interval(successes, trials, confidence)
    return Proportion(successes, trials, successes / trials if trials else None, low, high)


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> tuple[float, float] | None:
    """Return (z, two-sided p) for B against A with the pooled variance; None without trials.

    z is positive when B's rate is higher. Equal rates of 0 or 1 give (0.0, 1.0).
    """
    if trials_a <= 0 or trials_b <= 0:
        return None
    rate_a, rate_b = successes_a / trials_a, successes_b / trials_b
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 0.0, 1.0
    z = (rate_b - rate_a) / math.sqrt(variance)
    return z, float(2 * stats.norm.sf(abs(z)))


def sample_ratio_check(observed: list[int], weights: list[int]) -> dict | None:
    """Return the chi-square sample-ratio check of counts against weights; None if not testable."""
    total = sum(observed)
    if len(observed) < 2 or total <= 0 or sum(weights) <= 0:
        return None
    expected = [total * weight / sum(weights) for weight in weights]
    chi2, p = stats.chisquare(observed, expected)
    return {
        "observed": list(observed),
        "expected": expected,
        "chi2": float(chi2),
        "p": float(p),
        "mismatch": bool(p < SRM_ALPHA),
    }


def lift(
    successes_t: int, trials_t: int, successes_c: int, trials_c: int, confidence: float = CONFIDENCE
) -> dict | None:
    """Return treatment vs control: rate difference and relative lift, each with its interval.

    The difference uses the Wald (unpooled) interval; the relative lift (ratio - 1) uses the
    log risk-ratio interval, undefined (None) when either group has no success.
    """
    if trials_t <= 0 or trials_c <= 0:
        return None
    z = _z(confidence)
    rate_t, rate_c = successes_t / trials_t, successes_c / trials_c
    difference = rate_t - rate_c
    se = math.sqrt(rate_t * (1 - rate_t) / trials_t + rate_c * (1 - rate_c) / trials_c)
    result = {
        "treatment_rate": rate_t,
        "control_rate": rate_c,
        "difference": difference,
        "difference_low": difference - z * se,
        "difference_high": difference + z * se,
        "relative": None,
        "relative_low": None,
        "relative_high": None,
        "p": None,
    }
    test = two_proportion_z_test(successes_c, trials_c, successes_t, trials_t)
    if test is not None:
        result["p"] = test[1]
    if successes_t > 0 and successes_c > 0:
        log_ratio = math.log(rate_t / rate_c)
        se_log = math.sqrt(1 / successes_t - 1 / trials_t + 1 / successes_c - 1 / trials_c)
        result["relative"] = rate_t / rate_c - 1
        result["relative_low"] = math.exp(log_ratio - z * se_log) - 1
        result["relative_high"] = math.exp(log_ratio + z * se_log) - 1
    return result


# --- reading the ledger ------------------------------------------------------------------------


def _tracked(*kinds: str) -> Exists:
    return Exists(TrackingEvent.objects.filter(send=OuterRef("pk"), kind__in=kinds))


def _ledger(campaign: Campaign, test_only: bool):
    sends = Send.objects.filter(campaign=campaign)
    return sends.filter(in_test=True) if test_only else sends


def _counts(campaign: Campaign, test_only: bool) -> dict:
    """Return {(variant id, status): counts}: one grouped query."""
    K = TrackingEvent.Kind
    rows = (
        _ledger(campaign, test_only)
        .order_by()
        .values("variant_id", "status")
        .annotate(
            n=Count("pk"),
            opens=Count("pk", filter=_tracked(K.OPEN, K.CLICK)),
            clicks=Count("pk", filter=_tracked(K.CLICK)),
            bounces=Count("pk", filter=_tracked(K.BOUNCE)),
        )
    )
    return {(row["variant_id"], row["status"]): row for row in rows}


def _conversions(campaign: Campaign, test_only: bool) -> dict:
    """Return {(variant id, status): (converted sends, revenue)}: one grouped JOIN."""
    window = datetime.timedelta(days=settings.CAMPAIGN_ATTRIBUTION_DAYS)
    start = Case(
        When(status=Send.Status.HOLDOUT, then=Value(campaign.started_at)),
        default=F("sent_at"),
        output_field=DateTimeField(),
    )
    rows = (
        _ledger(campaign, test_only)
        .filter(status__in=(Send.Status.SENT, Send.Status.HOLDOUT))
        .annotate(window_start=start)
        .annotate(
            window_end=ExpressionWrapper(F("window_start") + window, output_field=DateTimeField())
        )
        .filter(
            profile__events__name=settings.CAMPAIGN_CONVERSION_EVENT,
            profile__events__occurred_at__gte=F("window_start"),
            profile__events__occurred_at__lt=F("window_end"),
        )
        .order_by()
        .values("variant_id", "status")
        .annotate(converted=Count("pk", distinct=True), revenue=Sum("profile__events__amount"))
    )
    return {
        (row["variant_id"], row["status"]): (row["converted"], row["revenue"] or 0) for row in rows
    }


def campaign_results(*, campaign: Campaign, test_only: bool = False) -> dict:
    """Return the campaign's results per variant and for the holdout (see the module doc).

    ``test_only`` limits them to the test share of a "test then winner" campaign.
    """
    counts = _counts(campaign, test_only)
    conversions = _conversions(campaign, test_only)
    tracked, clicks = engagement_tracked(campaign), clicks_tracked(campaign)
    rows = [
        _variant_row(variant, counts, conversions, tracked=tracked, clicks_tracked=clicks)
        for variant in campaign.variants.order_by("key")
    ]
    _compare_with_control(rows)
    holdout = _holdout(counts, conversions)
    holdout_n, holdout_converted = holdout["assigned"], holdout["conversions"]
    treated = sum(row["conversions"] for row in rows), sum(row["sent"] for row in rows)
    waiting = sum(row["n"] for (vid, status), row in counts.items() if status == "waiting")
    return {
        "campaign": campaign,
        "conversion_event": settings.CAMPAIGN_CONVERSION_EVENT,
        "attribution_days": settings.CAMPAIGN_ATTRIBUTION_DAYS,
        "variants": rows,
        "holdout": holdout,
        "waiting": waiting,
        "lift": lift(treated[0], treated[1], holdout_converted, holdout_n) if holdout_n else None,
        "srm": _srm(campaign, rows, counts),
        "srm_alpha": SRM_ALPHA,
        "engagement_tracked": tracked,
        "clicks_tracked": clicks,
        "sms_delivery": sms_delivery(campaign=campaign, test_only=test_only),
        "totals": {
            key: sum(row[key] for row in rows)
            for key in ("sent", "delivered", "opens", "clicks", "conversions", "revenue")
        },
    }


def _variant_row(
    variant, counts: dict, conversions: dict, *, tracked: bool, clicks_tracked: bool
) -> dict:
    """Return one variant's counts and rates (``vs_control`` is filled by the comparison).

    Without ``tracked`` engagement the open rate has no trials (not measured), and so has the
    click rate without ``clicks_tracked``.
    """
    mine = {status: row for (vid, status), row in counts.items() if vid == variant.pk}
    sent_row = mine.get(Send.Status.SENT, {})
    sent = sent_row.get("n", 0)
    delivered = sent - sent_row.get("bounces", 0)
    opens, clicks = sent_row.get("opens", 0), sent_row.get("clicks", 0)
    converted, revenue = conversions.get((variant.pk, Send.Status.SENT), (0, 0))
    return {
        "variant": variant,
        "key": variant.key,
        "name": variant.name,
        "weight": variant.weight,
        "assigned": sum(row["n"] for row in mine.values()),
        "sent": sent,
        "delivered": delivered,
        "opens": opens,
        "clicks": clicks,
        "conversions": converted,
        "revenue": revenue,
        "open_rate": proportion(opens, delivered if tracked else 0),
        "click_rate": proportion(clicks, delivered if clicks_tracked else 0),
        "conversion_rate": proportion(converted, sent),
        "vs_control": {},
    }


def _compare_with_control(rows: list[dict]) -> None:
    """Fill each variant's ``vs_control`` with a z-test of every metric against the first row."""
    if not rows:
        return
    control = rows[0]
    for row in rows[1:]:
        for metric in METRICS:
            a, b = control[metric], row[metric]
            test = two_proportion_z_test(a.successes, a.trials, b.successes, b.trials)
            row["vs_control"][metric] = (
                None
                if test is None
                else {"z": test[0], "p": test[1], "significant": test[1] < ALPHA}
            )


def _holdout(counts: dict, conversions: dict) -> dict:
    """Return the holdout's size, conversions, revenue and conversion rate."""
    holdout_n = sum(row["n"] for (vid, status), row in counts.items() if status == "holdout")
    converted, revenue = conversions.get((None, Send.Status.HOLDOUT), (0, 0))
    return {
        "assigned": holdout_n,
        "conversions": converted,
        "revenue": revenue,
        "conversion_rate": proportion(converted, holdout_n),
    }


def _srm(campaign: Campaign, rows: list[dict], counts: dict) -> dict | None:
    """Check the split: rows given a variant by the hash (the test share in test-then-winner)."""
    if campaign.winner_mode == Campaign.WinnerMode.TEST_THEN_WINNER:
        observed = list(
            _ledger(campaign, True)
            .exclude(variant=None)
            .order_by()
            .values_list("variant_id")
            .annotate(n=Count("pk"))
        )
        by_variant = dict(observed)
        observed = [by_variant.get(row["variant"].pk, 0) for row in rows]
    else:
        observed = [row["assigned"] for row in rows]
    return sample_ratio_check(observed, [row["weight"] for row in rows])


def campaign_tracking_timeline(*, campaign: Campaign) -> list[dict]:
    """Return opens and clicks per hour (local) as rows of ``at``, ``kind`` and ``n``."""
    return list(
        TrackingEvent.objects.filter(
            send__campaign=campaign, kind__in=(TrackingEvent.Kind.OPEN, TrackingEvent.Kind.CLICK)
        )
        .annotate(hour=TruncHour("at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("hour", "kind")
        .annotate(n=Count("pk"))
        .order_by("hour", "kind")
    )


# --- SMS delivery receipts ---------------------------------------------------------------------

FAILURE_CODES_SHOWN = 20


def _delivery_row(key: str, counts: dict) -> dict:
    sent, delivered, failed = (counts.get(k) or 0 for k in ("sent", "delivered", "failed"))
    return {
        "key": key,
        "sent": sent,
        "delivered": delivered,
        "failed": failed,
        "awaiting": sent - delivered - failed,
        "parts": counts.get("parts") or 0,
        "delivered_rate": proportion(delivered, sent),
        "failed_rate": proportion(failed, sent),
    }


def sms_delivery(*, campaign: Campaign, test_only: bool = False) -> dict | None:
    """Return an SMS campaign's receipts per variant and in all, and its failures by provider
    code (most frequent first, each with a description and its share of the failures);
    None for any other channel."""
    if campaign.channel != "sms":
        return None
    sent = _ledger(campaign, test_only).filter(status=Send.Status.SENT)
    rows = (
        sent.order_by()
        .values("variant_id")
        .annotate(
            sent=Count("pk"),
            delivered=Count("pk", filter=Q(delivery=Send.Delivery.DELIVERED)),
            failed=Count("pk", filter=Q(delivery=Send.Delivery.FAILED)),
            parts=Sum("parts"),
        )
    )
    by_variant = {row["variant_id"]: row for row in rows}
    totals = {
        key: sum(row[key] or 0 for row in by_variant.values())
        for key in ("sent", "delivered", "failed", "parts")
    }
    failures = list(
        sent.filter(delivery=Send.Delivery.FAILED)
        .order_by()
        .values("delivery_code")
        .annotate(n=Count("pk"), description=Max("delivery_error"))
        .order_by("-n", "delivery_code")[:FAILURE_CODES_SHOWN]
    )
    for failure in failures:
        failure["share"] = failure["n"] / totals["failed"]
    return {
        "variants": [
            _delivery_row(variant.key, by_variant.get(variant.pk, {}))
            for variant in campaign.variants.order_by("key")
        ],
        "total": _delivery_row("", totals),
        "failures": failures,
    }
