"""Compute every profile's features (RFM, value tier, last seen) in one set-based statement."""

import datetime
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from profiles.models import Event, Profile, ValueTier

PURCHASE = "purchase"
TIER_HIGH_MIN = 12  # R + F + M at or above this is high value
TIER_MID_MIN = 8  # … at or above this (and below TIER_HIGH_MIN) is mid value

# Whole days between %(now)s and f.last_purchase_at, by vendor. PostgreSQL subtracts the
# timestamps exactly; on SQLite, Django's own django_timestamp_diff() gives whole microseconds,
# so the integer division is exact too (julianday() arithmetic is a float and can miss a day).
_RECENCY_SQL = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM (%(now)s - f.last_purchase_at)) / 86400)",
    "sqlite": "django_timestamp_diff(%(now)s, f.last_purchase_at) / 86400000000",
}

# One statement: aggregate the events per profile (one scan), join every profile (those without
# events get zeros and nulls), score the purchasers of the window, and write it all back. It
# starts with UPDATE (the CTEs live in the FROM subquery) so that SQLite reports the row count.
_REFRESH_SQL = """
UPDATE {profile} SET
    recency_days = s.recency_days,
    frequency = s.frequency,
    monetary = s.monetary,
    r_score = s.r_score,
    f_score = s.f_score,
    m_score = s.m_score,
    value_tier = CASE
        WHEN s.r_score IS NULL THEN %(mass)s
        WHEN s.r_score + s.f_score + s.m_score >= %(high_min)s THEN %(high)s
        WHEN s.r_score + s.f_score + s.m_score >= %(mid_min)s THEN %(mid)s
        ELSE %(mass)s
    END,
    last_seen_at = s.last_seen_at,
    first_purchase_at = s.first_purchase_at,
    last_purchase_at = s.last_purchase_at,
    features_at = %(now)s
FROM (
    WITH agg AS (
        SELECT e.profile_id,
            MAX(e.occurred_at) AS last_seen_at,
            MIN(CASE WHEN e.name = %(purchase)s THEN e.occurred_at END) AS first_purchase_at,
            MAX(CASE WHEN e.name = %(purchase)s THEN e.occurred_at END) AS last_purchase_at,
            COUNT(CASE WHEN e.name = %(purchase)s AND e.occurred_at >= %(since)s THEN 1 END)
                AS frequency,
            ROUND(SUM(CASE WHEN e.name = %(purchase)s AND e.occurred_at >= %(since)s
                THEN COALESCE(e.amount, 0) ELSE 0 END), 2) AS monetary
        FROM {event} e
        WHERE e.occurred_at <= %(now)s
        GROUP BY e.profile_id
    ),
    f AS (
        SELECT p.id, agg.last_seen_at, agg.first_purchase_at, agg.last_purchase_at,
            COALESCE(agg.frequency, 0) AS frequency, COALESCE(agg.monetary, 0) AS monetary
        FROM {profile} p LEFT JOIN agg ON agg.profile_id = p.id
    ),
    features AS (
        SELECT f.*, {recency} AS recency_days FROM f
    ),
    scored AS (
        SELECT id,
            1 + (RANK() OVER (ORDER BY recency_days DESC) - 1) * 5 / COUNT(*) OVER () AS r_score,
            1 + (RANK() OVER (ORDER BY frequency) - 1) * 5 / COUNT(*) OVER () AS f_score,
            1 + (RANK() OVER (ORDER BY monetary) - 1) * 5 / COUNT(*) OVER () AS m_score
        FROM features
        WHERE frequency > 0
    )
    SELECT features.*, scored.r_score, scored.f_score, scored.m_score
    FROM features LEFT JOIN scored ON scored.id = features.id
) AS s
WHERE {profile}.id = s.id
"""


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


def _refresh_statement(now: datetime.datetime, since: datetime.datetime) -> tuple[str, dict]:
    """Return the refresh UPDATE for this database and its parameters."""
    vendor = connection.vendor
    if vendor not in _RECENCY_SQL:
        raise NotImplementedError(f"features_refresh does not support {vendor}.")
    quote = connection.ops.quote_name
    sql = _REFRESH_SQL.format(
        event=quote(Event._meta.db_table),
        profile=quote(Profile._meta.db_table),
        recency=_RECENCY_SQL[vendor],
    )
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "now": adapt(now),
        "since": adapt(since),
        "purchase": PURCHASE,
        "high_min": TIER_HIGH_MIN,
        "mid_min": TIER_MID_MIN,
        "high": ValueTier.HIGH.value,
        "mid": ValueTier.MID.value,
        "mass": ValueTier.MASS.value,
    }
    return sql, params


FEATURES_JOB_KIND = "profiles.features"


def features_job(*, job, report) -> dict:
    """Run the feature refresh as a background job (the on-demand button on the profile list)."""
    report(0, 1, message="refreshing", force=True)
    figures = features_refresh()
    report(1, 1, force=True)
    return figures
