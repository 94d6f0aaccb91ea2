"""Compute every profile's features (RFM, value tier, last seen) in one set-based statement."""

import datetime
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from profiles.models import TOUCHPOINT_DAYS, Profile, ValueTier
from profiles.sql import features_refresh_sql

PURCHASE = "purchase"
REFRESHED_KEY = "profiles:features:refreshed-at"
TIER_HIGH_MIN = 12  # R + F + M at or above this is high value
TIER_MID_MIN = 8  # … at or above this (and below TIER_HIGH_MIN) is mid value


def features_refresh(*, now: datetime.datetime | None = None) -> dict:
    """Recompute every profile's computed features as of ``now`` and return the figures.

    Everything is computed from the events that occurred at or before ``now`` (later ones are
    ignored, so a refresh "as of" a past moment is reproducible):

    - ``recency_days``: whole days (24-hour periods, floored) since the last purchase ever;
      null without one.
    - ``frequency`` / ``monetary``: the number of purchases and the sum of their amounts in
      the RFM window, ``now - RFM_WINDOW_DAYS`` (inclusive) to ``now``; 0 without any.
    - ``r_score``, ``f_score``, ``m_score`` (1 to 5, higher is better: R 5 is the most recent):
      quintiles among the profiles with at least one purchase in the window; null for the
      others. A score is ``1 + floor(5 * share of those purchasers with a strictly worse
      value)``, computed with integer arithmetic from ``RANK()``. Equal values therefore
      always get equal scores (a tie takes the score of its lowest position, so nobody is
      promoted by sharing a value), and the result is deterministic without an arbitrary
      tie-break; ``NTILE(5)`` would split a run of equal values across two quintiles by
      whatever order the tie-break happened to give. With distinct values it matches NTILE.
    - ``value_tier``: ``high`` when R + F + M >= 12, ``mid`` when >= 8, otherwise ``mass``;
      profiles without a purchase in the window are ``mass``.
    - ``touchpoints``: the touchpoints (event channels) of the events in the
      ``TOUCHPOINT_DAYS`` (90) before ``now``, one bit each (``TOUCHPOINT_BITS``).
    - ``last_seen_at``: the latest event of any kind; ``first_purchase_at`` and
      ``last_purchase_at``: over all time; ``features_at``: ``now``.
    """
    now = now or timezone.now()
    window_days = settings.RFM_WINDOW_DAYS
    sql, params = _refresh_statement(now, now - datetime.timedelta(days=window_days))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        updated = cursor.rowcount
    seconds = round(time.perf_counter() - started, 3)
    cache.set(REFRESHED_KEY, now.isoformat(), timeout=None)
    tiers = dict.fromkeys(ValueTier.values, 0)
    for row in Profile.objects.order_by().values("value_tier").annotate(n=Count("pk")):
        tiers[row["value_tier"]] = row["n"]
    return {
        "profiles": updated,
        "scored": Profile.objects.filter(frequency__gt=0).count(),
        "tiers": tiers,
        "window_days": window_days,
        "as_of": now.isoformat(),
        "seconds": seconds,
    }


def features_refreshed_at() -> str:
    """Return when the features were last refreshed (ISO), as the refresh noted in the shared
    cache, or "unknown": a cheap stamp for caches of what the refresh writes."""
    return cache.get(REFRESHED_KEY) or "unknown"


def _refresh_statement(now: datetime.datetime, since: datetime.datetime) -> tuple[str, dict]:
    """Return the refresh UPDATE for this database and its parameters."""
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "now": adapt(now),
        "since": adapt(since),
        "touch_since": adapt(now - datetime.timedelta(days=TOUCHPOINT_DAYS)),
        "purchase": PURCHASE,
        "high_min": TIER_HIGH_MIN,
        "mid_min": TIER_MID_MIN,
        "high": ValueTier.HIGH.value,
        "mid": ValueTier.MID.value,
        "mass": ValueTier.MASS.value,
    }
    return features_refresh_sql(), params


FEATURES_JOB_KIND = "profiles.features"


def features_job(*, job, report) -> dict:
    """Run the feature refresh as a background job (the on-demand button on the profile list)."""
    report(0, 1, force=True)
    figures = features_refresh()
    report(1, 1, force=True)
    return figures
