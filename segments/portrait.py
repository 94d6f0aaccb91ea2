"""The portrait (人群画像) of a segment: how its members spread over each dimension vs the base.

For every dimension (city, gender, age band, acquisition channel, value tier, journey stage,
tags, touchpoints) one grouped query counts the members per value and one counts the whole base
(every profile); each value then has its share in the segment, its share in the base and its
TGI, the share in the segment / the share in the base * 100 (100: as common as in the base).
Tags and touchpoints are not exclusive (a profile has several), so their shares need not add up
to 100 %.

Touchpoints are read from each profile's ``touchpoints`` (its event channels of the last 90 days,
written by the feature refresh), so no portrait reads the events. The base's counts are cached
(they read every profile) under a fingerprint of the profile and tag tables and of the last
feature refresh; a segment's counts are cached per segment version. Both expire after
``CACHE_SECONDS``, for changes to existing rows (refreshed features, a new stage).
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import connection
from django.db.models import Case, CharField, Count, F, Max, Q, QuerySet, Value, When
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from profiles.labels import acquisition_channel_label
from profiles.models import (
    TOUCHPOINT_BITS,
    Gender,
    Profile,
    ProfileTag,
    Tag,
    Touchpoint,
    ValueTier,
)
from segments import sql as segment_sql
from segments.models import Segment, SegmentMembership

CACHE_SECONDS = 600
BASE_WARM_SECONDS = 300  # beat recomputes the base's counts this often (portrait_base_warm)
ROWS_SHOWN = 15  # values per dimension on the page, highest index first
NOT_SET = "\x00"  # the key of a blank or missing value (never a real value)

# Age bands: (label, lowest age, highest age) — ages in whole years on today's local date.
AGE_BANDS = (
    ("<18", None, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55+", 55, None),
)


class PortraitRow(NamedTuple):
    """One value of a dimension: its members, share in the segment and base, and its TGI."""

    value: str
    label: str
    count: int
    share: float  # of the segment's members, 0–1
    base_count: int
    base_share: float  # of every profile, 0–1
    tgi: float | None  # None when the base has none (a stale base count)


@dataclass
class PortraitDimension:
    """A dimension's rows, highest TGI first, and how many values it has in the segment."""

    key: str
    label: str
    rows: list[PortraitRow] = field(default_factory=list)

    @property
    def shown(self) -> list[PortraitRow]:
        return self.rows[:ROWS_SHOWN]

    @property
    def hidden(self) -> int:
        return max(len(self.rows) - ROWS_SHOWN, 0)


@dataclass
class Portrait:
    """The segment's size, the base's size and one ``PortraitDimension`` per dimension."""

    size: int
    base_size: int
    dimensions: list[PortraitDimension]


# Counts a dimension's values over the members of a segment (its id), or every profile (None).
Counter = Callable[[int | None], dict[str, int]]


@dataclass(frozen=True)
class Dimension:
    """How to count one dimension over a set of profiles, and what to call its values."""

    key: str
    label: Any  # a lazy translation
    counter: Counter
    labels: Callable[[Iterable[str]], dict[str, str]]
    # Its SQL over the profile table ``p``, for counting it with the others in one query
    # (PostgreSQL's GROUPING SETS); None: counted by ``counter`` alone.
    sql: Callable[[], str] | None = None
    # Turns the counts by that SQL's values into the dimension's counts (touchpoints: by bit
    # set); None: they are the dimension's counts.
    spread: Callable[[dict], dict] | None = None


def _grouped(queryset: QuerySet, column: str, *, count: str = "pk", distinct=False) -> dict:
    rows = queryset.order_by().values_list(column).annotate(n=Count(count, distinct=distinct))
    return {(NOT_SET if value in ("", None) else str(value)): n for value, n in rows}


def _profiles(segment_id: int | None) -> QuerySet:
    if segment_id is None:
        return Profile.objects.all()
    return Profile.objects.filter(segment_memberships__segment_id=segment_id)


def _column(name: str) -> Counter:
    return lambda segment_id: _grouped(_profiles(segment_id), name)


def _born_by(age: int) -> datetime.date:
    """Return the latest birth date of someone ``age`` years old today (local date)."""
    today = timezone.localdate()
    try:
        return today.replace(year=today.year - age)
    except ValueError:  # 29 February
        return today.replace(year=today.year - age, day=28)


def _age_band() -> Case:
    whens = []
    for label, low, high in AGE_BANDS:
        condition = Q()
        if low is not None:
            condition &= Q(birth_date__lte=_born_by(low))
        if high is not None:
            condition &= Q(birth_date__gt=_born_by(high + 1))
        whens.append(When(condition, then=Value(label)))
    return Case(*whens, default=Value(""), output_field=CharField())


def _age_band_sql() -> str:
    """Return the age band as SQL over ``p`` (dates computed here, written as literals so
    that the expression reads the same in the SELECT list and in GROUPING SETS)."""
    whens = " ".join(
        f"WHEN p.birth_date > DATE '{_born_by(high + 1).isoformat()}' THEN '{label}'"
        for label, _low, high in AGE_BANDS
        if high is not None
    )
    last = AGE_BANDS[-1][0]
    return f"CASE {whens} WHEN p.birth_date IS NOT NULL THEN '{last}' ELSE '' END"


def _ages(segment_id: int | None) -> dict[str, int]:
    return _grouped(_profiles(segment_id).annotate(age_band=_age_band()), "age_band")


def _tags(segment_id: int | None) -> dict[str, int]:
    now = timezone.now()
    carried = ProfileTag.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if segment_id is not None:
        carried = carried.filter(profile__segment_memberships__segment_id=segment_id)
    return _grouped(carried, "tag_id", count="profile_id")


def _touchpoints(segment_id: int | None) -> dict[str, int]:
    """Count the profiles per touchpoint of their last TOUCHPOINT_DAYS, as of the feature
    refresh (``Profile.touchpoints``, one bit each): one pass over the profiles, no events."""
    counts = _profiles(segment_id).aggregate(
        **{
            value: Count("pk", filter=Q(GreaterThan(F("touchpoints").bitand(bit), 0)))
            for value, bit in TOUCHPOINT_BITS.items()
        }
    )
    return {value: n for value, n in counts.items() if n}


def _touchpoints_spread(by_mask: dict[str, int]) -> dict[str, int]:
    """Return the profiles per touchpoint from the profiles per set of touchpoints (a mask)."""
    counts: dict[str, int] = {}
    for mask, n in by_mask.items():
        bits = 0 if mask == NOT_SET else int(mask)
        for value, bit in TOUCHPOINT_BITS.items():
            if bits & bit:
                counts[value] = counts.get(value, 0) + n
    return counts


def _choices(choices) -> Callable[[Iterable[str]], dict[str, str]]:
    return lambda values: {value: str(label) for value, label in choices}


def _same(values: Iterable[str]) -> dict[str, str]:
    return {value: value for value in values}


def _tag_labels(values: Iterable[str]) -> dict[str, str]:
    ids = [int(value) for value in values]
    tags = Tag.objects.filter(pk__in=ids).select_related("category")
    return {str(tag.pk): f"{tag.category.label} · {tag.label}" for tag in tags}


def _channel_labels(values: Iterable[str]) -> dict[str, str]:
    return {value: acquisition_channel_label(value) for value in values}


def _age_labels(values: Iterable[str]) -> dict[str, str]:
    return {
        "<18": str(_("under 18")),
        "55+": str(_("55 and over")),
        **{label: label for label, _low, _high in AGE_BANDS[1:-1]},
    }


# Labels that apps above segments give to the values of their dimensions (journeys: stages).
_LABELERS: dict[str, Callable[[Iterable[str]], dict[str, str]]] = {}


def portrait_labels_register(key: str, labeler: Callable[[Iterable[str]], dict[str, str]]):
    """Name the values of dimension ``key`` with ``labeler(values) -> {value: label}``."""
    _LABELERS[key] = labeler
    return labeler


def _sql_column(name: str) -> Callable[[], str]:
    column = connection.ops.quote_name(Profile._meta.get_field(name).column)
    return lambda: f"p.{column}"


def dimensions() -> list[Dimension]:
    """Return the dimensions of a portrait, in the order the page shows them."""
    return [
        Dimension("city", _("City"), _column("city"), _same, _sql_column("city")),
        Dimension(
            "gender",
            _("Gender"),
            _column("gender"),
            _choices(Gender.choices),
            _sql_column("gender"),
        ),
        Dimension("age", _("Age"), _ages, _age_labels, _age_band_sql),
        Dimension(
            "channel",
            _("Acquisition channel"),
            _column("channel"),
            _channel_labels,
            _sql_column("channel"),
        ),
        Dimension(
            "tier",
            _("Value tier"),
            _column("value_tier"),
            _choices(ValueTier.choices),
            _sql_column("value_tier"),
        ),
        Dimension("stage", _("Journey stage"), _column("stage"), _stage, _sql_column("stage")),
        Dimension("tag", _("Tags"), _tags, _tag_labels),
        Dimension(
            "touchpoint",
            _("Touchpoints (last 90 days)"),
            _touchpoints,
            _choices(Touchpoint.choices),
            _sql_column("touchpoints"),
            _touchpoints_spread,
        ),
    ]


def _stage(values: Iterable[str]) -> dict[str, str]:
    labeler = _LABELERS.get("stage")
    return labeler(values) if labeler else _same(values)


def _base_fingerprint() -> str:
    """Return what changes when the base's counts may: a new profile or tag, a feature refresh
    (which writes the value tiers and touchpoints)."""
    newest = [
        model.objects.aggregate(last=Max("pk"))["last"] or 0 for model in (Profile, ProfileTag)
    ]
    refreshed = Profile.objects.aggregate(last=Max("features_at"))["last"]
    return "-".join([*map(str, newest), refreshed.isoformat() if refreshed else "never"])


def _cached(key: str, compute: Callable[[], Any]) -> Any:
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=CACHE_SECONDS)
    return value


def _grouping_sets(segment_id: int | None, chosen: list[Dimension]) -> dict[str, dict]:
    """Count every dimension of ``chosen`` in one query, each by its own grouping set."""
    sql, params = segment_sql.profile_columns_grouped(
        {dimension.key: dimension.sql() for dimension in chosen}, segment_id=segment_id
    )
    counts: dict[str, dict] = {dimension.key: {} for dimension in chosen}
    last = len(chosen) - 1
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bits, *values, n in cursor.fetchall():
            index = next(i for i in range(len(chosen)) if not bits >> (last - i) & 1)
            value = values[index]
            counts[chosen[index].key][NOT_SET if value in ("", None) else str(value)] = n
    for dimension in chosen:
        if dimension.spread:
            counts[dimension.key] = dimension.spread(counts[dimension.key])
    return counts


def _counts(segment_id: int | None, chosen: list[Dimension]) -> dict:
    together = [d for d in chosen if d.sql] if segment_sql.grouping_sets_supported() else []
    counts = _grouping_sets(segment_id, together) if together else {}
    counts.update({d.key: d.counter(segment_id) for d in chosen if d not in together})
    if segment_id is None:
        size = Profile.objects.order_by().count()
    else:
        size = SegmentMembership.objects.filter(segment_id=segment_id).count()
    return {"size": size, **counts}


def _base_key() -> str:
    return f"segments:portrait:v1:base:{_base_fingerprint()}"


def portrait_base_warm() -> int:
    """Count the base into the cache, so that a portrait only counts its segment; return the
    base's size. Beat runs it every BASE_WARM_SECONDS, well within the cache's lifetime."""
    counts = _counts(None, dimensions())
    cache.set(_base_key(), counts, timeout=CACHE_SECONDS)
    return counts["size"]


def portrait_counts(*, segment: Segment) -> tuple[dict, dict]:
    """Return the counts per dimension of the segment's members and of the base (cached)."""
    chosen = dimensions()
    base = _cached(_base_key(), lambda: _counts(None, chosen))
    members = _cached(
        f"segments:portrait:v1:segment:{segment.pk}:{segment.version}",
        lambda: _counts(segment.pk, chosen),
    )
    return members, base


def portrait_cache_clear(*, segment: Segment, base: bool = True) -> None:
    """Forget the cached counts of the segment's current version (and of the base)."""
    keys = [f"segments:portrait:v1:segment:{segment.pk}:{segment.version}"]
    if base:
        keys.append(f"segments:portrait:v1:base:{_base_fingerprint()}")
    cache.delete_many(keys)


def _rows(dimension: Dimension, counts: dict, base: dict, size: int, base_size: int) -> list:
    labels = dimension.labels([value for value in counts if value != NOT_SET])
    rows = []
    for value, count in counts.items():
        base_count = base.get(value, 0)
        share = count / size if size else 0.0
        base_share = base_count / base_size if base_size else 0.0
        label = str(_("Not set")) if value == NOT_SET else labels.get(value, value)
        tgi = 100 * share / base_share if base_share else None
        rows.append(PortraitRow(value, label, count, share, base_count, base_share, tgi))
    rows.sort(key=lambda row: (row.tgi is None, -(row.tgi or 0), -row.count, row.label))
    return rows


def segment_portrait(*, segment: Segment) -> Portrait:
    """Return the segment's portrait against the whole base, highest index first per dimension."""
    members, base = portrait_counts(segment=segment)
    size, base_size = members["size"], base["size"]
    return Portrait(
        size=size,
        base_size=base_size,
        dimensions=[
            PortraitDimension(
                key=dimension.key,
                label=str(dimension.label),
                rows=_rows(dimension, members[dimension.key], base[dimension.key], size, base_size),
            )
            for dimension in dimensions()
        ],
    )
