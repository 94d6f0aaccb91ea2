"""Memberships and transitions never outlive their profile or segment.

Their foreign keys have no constraint in the database (``segments.models``: an evaluation's
row-by-row checks cost more than its query), so the ORM's cascades, merges and erasure must
clean up by themselves: each test looks for orphan rows with the SQL a constraint would run.
"""

import pytest
from django.db import connection

from profiles.models import Profile
from profiles.services.merge import profile_merge
from profiles.services.privacy import profile_erase
from segments.models import Segment, SegmentMembership, SegmentTransition
from segments.services import segment_evaluate
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}
TEA = {"all": [{"attr": "city", "op": "in", "value": ["上海", "杭州"]}]}


def orphans() -> dict[str, int]:
    """Return, per table and key, how many rows name a profile or segment that does not exist."""
    q = connection.ops.quote_name
    found = {}
    for model in (SegmentMembership, SegmentTransition):
        for field, parent in (("profile_id", Profile), ("segment_id", Segment)):
            table, parent_table = q(model._meta.db_table), q(parent._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} r WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {parent_table} p WHERE p.id = r.{field})"
                )
                found[f"{model._meta.model_name}.{field}"] = cursor.fetchone()[0]
    return found


NONE = {
    "segmentmembership.profile_id": 0,
    "segmentmembership.segment_id": 0,
    "segmenttransition.profile_id": 0,
    "segmenttransition.segment_id": 0,
}


@pytest.fixture
def evaluated():
    """Two evaluated segments: one of Shanghai, one of Shanghai and Hangzhou, three members."""
    profiles = [ProfileFactory(city=city) for city in ("上海", "上海", "杭州", "北京")]
    segments = [
        Segment.objects.create(name="上海", slug="sh", rule=SHANGHAI),
        Segment.objects.create(name="茶", slug="tea", rule=TEA),
    ]
    for segment in segments:
        assert not segment_evaluate(segment_id=segment.pk).error
    assert SegmentMembership.objects.count() == 5
    return profiles, segments


def test_deleting_a_profile_deletes_its_memberships_and_transitions(evaluated):
    profiles, _segments = evaluated

    profiles[0].delete()

    assert orphans() == NONE
    assert SegmentMembership.objects.count() == 3
    assert SegmentTransition.objects.count() == 3


def test_deleting_profiles_in_bulk_deletes_their_rows(evaluated):
    Profile.objects.filter(city="上海").delete()

    assert orphans() == NONE
    assert SegmentMembership.objects.count() == 1


def test_deleting_a_segment_deletes_its_memberships_and_transitions(evaluated):
    _profiles, segments = evaluated

    segments[1].delete()

    assert orphans() == NONE
    assert SegmentMembership.objects.count() == 2
    assert SegmentTransition.objects.count() == 2


def test_a_merge_leaves_no_row_naming_the_merged_profile(evaluated):
    profiles, _segments = evaluated
    hangzhou = profiles[2]  # a member of "tea" only
    shanghai = profiles[0]  # a member of both

    profile_merge(source=shanghai, target=hangzhou)

    assert orphans() == NONE
    assert not Profile.objects.filter(pk=shanghai.pk).exists()
    assert set(
        SegmentMembership.objects.filter(profile=hangzhou).values_list("segment__slug", flat=True)
    ) == {"sh", "tea"}


def test_erasure_leaves_no_orphan_row(evaluated, consent_admin):
    profiles, _segments = evaluated

    profile_erase(profile=profiles[1], user=consent_admin, reason="ticket 26")

    assert orphans() == NONE
    assert SegmentMembership.objects.count() == 5


def test_a_profile_deleted_behind_the_orm_leaves_the_segment_at_its_next_evaluation(evaluated):
    """The check itself can fail: a profile deleted in SQL leaves its rows behind, until the
    next evaluation records its exit and removes the membership."""
    profiles, segments = evaluated
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {q(Profile._meta.db_table)} WHERE id = %s", [profiles[3].pk]
        )  # a member of nothing: only the check's own query is exercised
        cursor.execute(f"DELETE FROM {q(Profile._meta.db_table)} WHERE id = %s", [profiles[2].pk])

    assert orphans()["segmentmembership.profile_id"] == 1
    assert orphans()["segmenttransition.profile_id"] == 1

    assert not segment_evaluate(segment_id=segments[1].pk).error
    assert orphans()["segmentmembership.profile_id"] == 0
