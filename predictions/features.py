"""Read each purchaser's history at a moment into arrays: what the models learn from.

A *history* is the state of every customer at ``as_of``, from the events that occurred at or
before it (so a backtest "as of" a past day sees only what was known then):

- the repeat-buying summary the BG/NBD and Gamma-Gamma models take, in days: ``x`` (purchase
  days after the first one), ``t_x`` (first to last purchase day), ``T`` (first purchase to
  ``as_of``), and the mean and total spend;
- behaviour in the last ``ACTIVITY_DAYS``: how often each kind of event happened (page views,
  app opens, carts, feedback …, whatever names the base uses most), messages opened and
  clicked, and the days since the last event of any kind.

Customers are the profiles with at least one purchase by ``as_of`` that have not withdrawn
personalised profiling (``profiles.services.consent.profiling_refused_ids``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate

from campaigns.selectors import engagement_by_profile
from profiles.models import Event, ProfileTag
from profiles.services.consent import profiling_refused_ids

PURCHASE = "purchase"
ACTIVITY_DAYS = 90
MAX_EVENT_KINDS = 12  # the most frequent event names besides purchase become features
CHUNK = 50_000
DAY = 86_400.0


@dataclass(frozen=True)
class Histories:
    """Every customer's state at ``as_of``, one array position per customer."""

    as_of: dt.datetime
    profile_ids: np.ndarray  # int64, ascending
    x: np.ndarray  # repeat purchase days
    t_x: np.ndarray  # days from the first to the last purchase day
    T: np.ndarray  # days from the first purchase to as_of
    purchases: np.ndarray  # purchase events
    spend: np.ndarray  # sum of amounts
    activity: np.ndarray  # (n, len(activity_names)) behaviour in the last ACTIVITY_DAYS
    activity_names: tuple[str, ...]
    refused: int = 0  # purchasers left out: they withdrew personalised profiling

    def __len__(self) -> int:
        return len(self.profile_ids)

    @property
    def recency(self) -> np.ndarray:
        """Days since the last purchase."""
        return self.T - self.t_x

    @property
    def monetary_mean(self) -> np.ndarray:
        """Mean amount per purchase event (0 for purchases without amounts)."""
        return self.spend / np.maximum(self.purchases, 1)

    def matrix(self) -> tuple[np.ndarray, list[str]]:
        """Return every feature as one matrix (for the supervised model) and its column names."""
        base = np.column_stack(
            [self.x, self.t_x, self.T, self.recency, self.monetary_mean, self.spend]
        )
        names = ["repeat_days", "active_span_days", "age_days", "recency_days"]
        names += ["average_order", "total_spend", *self.activity_names]
        return np.hstack([base, self.activity]), names


def event_kinds() -> tuple[str, ...]:
    """Return the most frequent event names other than purchase, most frequent first."""
    rows = (
        Event.objects.exclude(name=PURCHASE)
        .values("name")
        .annotate(n=Count("pk"))
        .order_by("-n", "name")
        .values_list("name", flat=True)[:MAX_EVENT_KINDS]
    )
    return tuple(rows)


def histories_load(*, as_of: dt.datetime, kinds: Iterable[str] | None = None) -> Histories:
    """Return every customer's history at ``as_of`` (see the module docstring)."""
    kinds = tuple(event_kinds() if kinds is None else kinds)
    purchases = _purchase_summaries(as_of)
    refused = np.fromiter(profiling_refused_ids(), dtype=np.int64)
    keep = ~np.isin(purchases["profile_id"], refused)
    purchases = {key: values[keep] for key, values in purchases.items()}
    ids = purchases["profile_id"]
    first, last = purchases["first"], purchases["last"]
    now = as_of.timestamp()
    activity = _activity(ids, as_of, kinds)
    names = (*(f"{kind}_{ACTIVITY_DAYS}d" for kind in kinds), "opens", "clicks")
    return Histories(
        as_of=as_of,
        profile_ids=ids,
        x=np.maximum(purchases["days"] - 1, 0),
        t_x=np.maximum(last - first, 0) / DAY,
        T=np.maximum(now - first, 0) / DAY,
        purchases=purchases["purchases"],
        spend=purchases["spend"],
        activity=activity,
        activity_names=(*names, "days_since_last_event"),
        refused=int((~keep).sum()),
    )


def _purchase_summaries(as_of: dt.datetime) -> dict[str, np.ndarray]:
    """Return per-purchaser arrays: ids, purchases, distinct days, first/last epoch, spend."""
    rows = (
        Event.objects.filter(name=PURCHASE, occurred_at__lte=as_of)
        .values("profile_id")
        .annotate(
            purchases=Count("pk"),
            days=Count(TruncDate("occurred_at"), distinct=True),
            first=Min("occurred_at"),
            last=Max("occurred_at"),
            spend=Sum("amount"),
        )
        .order_by("profile_id")
        .values_list("profile_id", "purchases", "days", "first", "last", "spend")
    )
    columns: list[list] = [[], [], [], [], [], []]
    for row in rows.iterator(chunk_size=CHUNK):
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    ids, purchases, days, first, last, spend = columns
    return {
        "profile_id": np.array(ids, dtype=np.int64),
        "purchases": np.array(purchases, dtype=np.float64),
        "days": np.array(days, dtype=np.float64),
        "first": np.array([at.timestamp() for at in first], dtype=np.float64),
        "last": np.array([at.timestamp() for at in last], dtype=np.float64),
        "spend": np.array([float(v or 0) for v in spend], dtype=np.float64),
    }


def _activity(ids: np.ndarray, as_of: dt.datetime, kinds: tuple[str, ...]) -> np.ndarray:
    """Return (n, kinds + 3): counts per kind, opens, clicks, days since the last event."""
    since = as_of - dt.timedelta(days=ACTIVITY_DAYS)
    out = np.zeros((len(ids), len(kinds) + 3), dtype=np.float64)
    out[:, -1] = ACTIVITY_DAYS  # nothing in the window: at least that long ago
    counts = {f"k{i}": Count("pk", filter=Q(name=kind)) for i, kind in enumerate(kinds)}
    rows = (
        Event.objects.filter(occurred_at__gt=since, occurred_at__lte=as_of)
        .values("profile_id")
        .annotate(last=Max("occurred_at"), **counts)
        .order_by()
        .values_list("profile_id", "last", *counts)
    )
    now = as_of.timestamp()
    for chunk in _chunks(rows.iterator(chunk_size=CHUNK)):
        at = _positions(ids, [row[0] for row in chunk])
        found = at >= 0
        values = np.array([row[2:] for row in chunk], dtype=np.float64).reshape(len(chunk), -1)
        ago = np.array([(now - row[1].timestamp()) / DAY for row in chunk], dtype=np.float64)
        out[at[found], : len(kinds)] = values[found]
        out[at[found], -1] = np.clip(ago[found], 0, ACTIVITY_DAYS)
    engagement = list(engagement_by_profile(since=since, until=as_of))
    if engagement:
        at = _positions(ids, [row[0] for row in engagement])
        found = at >= 0
        values = np.array([row[1:] for row in engagement], dtype=np.float64)
        out[at[found], len(kinds) : len(kinds) + 2] = values[found]
    return out


def _chunks(rows: Iterable[tuple], size: int = CHUNK) -> Iterable[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _positions(sorted_ids: np.ndarray, wanted: list[int]) -> np.ndarray:
    """Return the position of each wanted id in ``sorted_ids``, -1 where it is absent."""
    wanted_array = np.array(wanted, dtype=np.int64)
    at = np.searchsorted(sorted_ids, wanted_array)
    at = np.minimum(at, max(len(sorted_ids) - 1, 0))
    if len(sorted_ids) == 0:
        return np.full(len(wanted_array), -1)
    return np.where(sorted_ids[at] == wanted_array, at, -1)


def purchased_between(ids: np.ndarray, start: dt.datetime, end: dt.datetime) -> np.ndarray:
    """Return, for each id, whether it has a purchase in (start, end] (the label of a backtest)."""
    buyers = (
        Event.objects.filter(name=PURCHASE, occurred_at__gt=start, occurred_at__lte=end)
        .values_list("profile_id", flat=True)
        .distinct()
        .order_by()
    )
    return np.isin(ids, np.fromiter(buyers.iterator(chunk_size=CHUNK), dtype=np.int64))


def baskets_load(*, ids: np.ndarray, as_of: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, product) pairs: position in ``ids`` of each customer and a product bought.

    The product is ``properties.product`` of purchase events by ``as_of``; events without one
    are left out (no product, no rule).
    """
    pairs = (
        Event.objects.filter(name=PURCHASE, occurred_at__lte=as_of, properties__has_key="product")
        .values_list("profile_id", "properties__product")
        .distinct()
        .order_by()
    )
    owners: list[int] = []
    products: list[str] = []
    for profile_id, product in pairs.iterator(chunk_size=CHUNK):
        if isinstance(product, str) and product:
            owners.append(profile_id)
            products.append(product[:128])
    at = _positions(ids, owners) if owners else np.zeros(0, dtype=np.int64)
    found = at >= 0
    return at[found], np.array(products, dtype=object)[found]


def tags_load(*, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (row, tag index, tag slugs): which customers carry which tag."""
    rows = ProfileTag.objects.values_list("profile_id", "tag__slug").order_by()
    owners: list[int] = []
    slugs: list[str] = []
    for profile_id, slug in rows.iterator(chunk_size=CHUNK):
        owners.append(profile_id)
        slugs.append(slug)
    names = sorted(set(slugs))
    index = {slug: i for i, slug in enumerate(names)}
    at = _positions(ids, owners) if owners else np.zeros(0, dtype=np.int64)
    columns = np.array([index[slug] for slug in slugs], dtype=np.int64)
    found = at >= 0
    return at[found], columns[found], names
