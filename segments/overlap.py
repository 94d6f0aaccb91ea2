"""How 2 to 5 segments overlap: each combination's exclusive size, pairwise intersections, Jaccard.

One grouped query does it: each member of any chosen segment gets the bits of the segments it is
in (segment i is bit 2**i), then members are counted per combination of bits. Everything else
(each segment's size, each pair's intersection and union) is a sum over those combinations, so
the numbers agree with each other by construction.
"""

from dataclasses import dataclass
from itertools import combinations

from django.db import connection
from django.utils.translation import gettext_lazy as _

from segments.models import Segment, SegmentMembership

MIN_SEGMENTS = 2
MAX_SEGMENTS = 5
ERROR_TOO_FEW = _("Choose at least %(min)d different segments to compare.")
ERROR_TOO_MANY = _("Choose at most %(max)d segments to compare.")
ERROR_UNKNOWN = _("No segment has the slug “%(slug)s”.")


class OverlapError(ValueError):
    """The segments asked for cannot be compared (too few, too many, unknown)."""


@dataclass(frozen=True)
class Pair:
    """Two segments: how many profiles are in both, in either, and the Jaccard index."""

    first: Segment
    second: Segment
    both: int
    either: int

    @property
    def jaccard(self) -> float:
        return self.both / self.either if self.either else 0.0


@dataclass(frozen=True)
class Combination:
    """Profiles in exactly these segments and in none of the other chosen ones."""

    segments: tuple[Segment, ...]
    count: int


@dataclass(frozen=True)
class Overlap:
    segments: list[Segment]
    sizes: dict[int, int]  # segment id -> members
    union: int
    pairs: list[Pair]
    combinations: list[Combination]  # largest first


def segments_for_overlap(slugs: list[str]) -> list[Segment]:
    """Return the segments named by ``slugs`` in that order, or raise ``OverlapError``."""
    unique = list(dict.fromkeys(slug.strip() for slug in slugs if slug.strip()))
    if len(unique) < MIN_SEGMENTS:
        raise OverlapError(ERROR_TOO_FEW % {"min": MIN_SEGMENTS})
    if len(unique) > MAX_SEGMENTS:
        raise OverlapError(ERROR_TOO_MANY % {"max": MAX_SEGMENTS})
    found = Segment.objects.in_bulk(unique, field_name="slug")
    for slug in unique:
        if slug not in found:
            raise OverlapError(ERROR_UNKNOWN % {"slug": slug})
    return [found[slug] for slug in unique]


def _combination_counts(segments: list[Segment]) -> dict[int, int]:
    """Return {bits: profiles in exactly that combination} by one grouped query."""
    table = connection.ops.quote_name(SegmentMembership._meta.db_table)
    whens = " ".join("WHEN %s THEN %s" for _segment in segments)
    marks = ", ".join("%s" for _segment in segments)
    sql = (
        f"SELECT bits, COUNT(*) FROM (SELECT profile_id, SUM(CASE segment_id {whens} END) AS bits"
        f" FROM {table} WHERE segment_id IN ({marks}) GROUP BY profile_id) AS combos GROUP BY bits"
    )
    params = [value for i, s in enumerate(segments) for value in (s.pk, 1 << i)]
    params += [segment.pk for segment in segments]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(bits): count for bits, count in cursor.fetchall()}


def segments_overlap(*, segments: list[Segment]) -> Overlap:
    """Return how the segments overlap: sizes, pairs with Jaccard, and every combination."""
    counts = _combination_counts(segments)
    bit = {segment.pk: 1 << i for i, segment in enumerate(segments)}

    def having(*wanted: Segment, every: bool = True) -> int:
        mask = sum(bit[segment.pk] for segment in wanted)
        test = (lambda bits: bits & mask == mask) if every else (lambda bits: bits & mask)
        return sum(count for bits, count in counts.items() if test(bits))

    pairs = [
        Pair(first, second, having(first, second), having(first, second, every=False))
        for first, second in combinations(segments, 2)
    ]
    combos = [
        Combination(tuple(s for s in segments if bits & bit[s.pk]), count)
        for bits, count in counts.items()
    ]
    combos.sort(key=lambda combo: (-combo.count, len(combo.segments)))
    return Overlap(
        segments=segments,
        sizes={segment.pk: having(segment) for segment in segments},
        union=sum(counts.values()),
        pairs=pairs,
        combinations=combos,
    )
