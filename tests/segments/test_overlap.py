"""Segment overlap: sizes, pairwise intersections, Jaccard and combinations equal hand SQL."""

import random
from itertools import combinations

import pytest
from django.db import connection

from segments.models import Segment, SegmentMembership
from segments.overlap import (
    ERROR_TOO_FEW,
    ERROR_TOO_MANY,
    ERROR_UNKNOWN,
    OverlapError,
    segments_for_overlap,
    segments_overlap,
)
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def five():
    """Return five static segments over 80 profiles, each profile in a random subset."""
    rng = random.Random(11)
    segments = [
        Segment.objects.create(name=f"人群{i}", slug=f"s{i}", kind=Segment.Kind.STATIC)
        for i in range(5)
    ]
    for _number in range(80):
        profile = ProfileFactory()
        for segment in segments:
            if rng.random() < 0.4:
                SegmentMembership.objects.create(segment=segment, profile=profile)
    return segments


def _scalar(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


BOTH = (
    "SELECT COUNT(*) FROM segments_segmentmembership a JOIN segments_segmentmembership b"
    " ON a.profile_id = b.profile_id WHERE a.segment_id = %s AND b.segment_id = %s"
)
EITHER = (
    "SELECT COUNT(DISTINCT profile_id) FROM segments_segmentmembership WHERE segment_id IN (%s, %s)"
)
SIZE = "SELECT COUNT(*) FROM segments_segmentmembership WHERE segment_id = %s"


@pytest.mark.parametrize("count", [2, 3, 5])
def test_pairs_and_sizes_equal_hand_written_sql(five, count):
    chosen = five[:count]

    overlap = segments_overlap(segments=chosen)

    assert len(overlap.pairs) == len(list(combinations(chosen, 2)))
    for pair in overlap.pairs:
        both = _scalar(BOTH, [pair.first.pk, pair.second.pk])
        either = _scalar(EITHER, [pair.first.pk, pair.second.pk])
        assert (pair.both, pair.either) == (both, either)
        assert pair.jaccard == pytest.approx(both / either)
    for segment in chosen:
        assert overlap.sizes[segment.pk] == _scalar(SIZE, [segment.pk])
    marks = ", ".join(["%s"] * count)
    union = _scalar(
        "SELECT COUNT(DISTINCT profile_id) FROM segments_segmentmembership"
        f" WHERE segment_id IN ({marks})",
        [s.pk for s in chosen],
    )
    assert overlap.union == union == sum(combo.count for combo in overlap.combinations)


def test_each_combination_counts_the_profiles_in_exactly_those_segments(five):
    chosen = five[:3]

    overlap = segments_overlap(segments=chosen)

    for combo in overlap.combinations:
        inside = [s.pk for s in combo.segments]
        outside = [s.pk for s in chosen if s.pk not in inside]
        # profiles in every segment of the combination and in none of the others
        sql = (
            "SELECT COUNT(*) FROM (SELECT profile_id FROM segments_segmentmembership"
            f" WHERE segment_id IN ({', '.join(['%s'] * len(inside))})"
            " GROUP BY profile_id HAVING COUNT(*) = %s) AS inside"
        )
        params = [*inside, len(inside)]
        if outside:
            sql += (
                " WHERE profile_id NOT IN (SELECT profile_id FROM segments_segmentmembership"
                f" WHERE segment_id IN ({', '.join(['%s'] * len(outside))}))"
            )
            params += outside
        assert combo.count == _scalar(sql, params), [s.slug for s in combo.segments]
    counts = [combo.count for combo in overlap.combinations]
    assert counts == sorted(counts, reverse=True) and len(counts) == 7  # every non-empty subset


def test_segments_without_members_overlap_in_nothing(db):
    first, second = (
        Segment.objects.create(name=n, slug=n, kind=Segment.Kind.STATIC) for n in ("a", "b")
    )

    overlap = segments_overlap(segments=[first, second])

    assert overlap.union == 0 and overlap.combinations == []
    assert (overlap.pairs[0].both, overlap.pairs[0].jaccard) == (0, 0.0)


@pytest.mark.parametrize(
    ("slugs", "message"),
    [
        (["s0"], ERROR_TOO_FEW % {"min": 2}),
        (["s0", "s0", " "], ERROR_TOO_FEW % {"min": 2}),
        (["s0", "s1", "s2", "s3", "s4", "s5"], ERROR_TOO_MANY % {"max": 5}),
        (["s0", "nope"], ERROR_UNKNOWN % {"slug": "nope"}),
    ],
)
def test_a_bad_choice_is_refused_with_its_reason(five, slugs, message):
    with pytest.raises(OverlapError) as error:
        segments_for_overlap(slugs)

    assert str(error.value) == str(message)


def test_the_chosen_segments_keep_their_order(five):
    assert segments_for_overlap(["s3", "s1"]) == [five[3], five[1]]
