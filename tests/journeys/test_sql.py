"""journeys.sql: each statement, run on the database of the suite (SQLite, or PostgreSQL: the CI
runs the suite on both)."""

import datetime

import pytest
from django.db.models import F

from core.sql import select_sql
from journeys.models import StageTransition
from journeys.sql import median_seconds, transitions_insert
from profiles.models import Profile
from tests.factories import ProfileFactory
from tests.journeys.conftest import NOW

pytestmark = pytest.mark.django_db


def spans(*seconds: float | None) -> tuple[str, tuple]:
    """Profiles signed up at NOW and last seen ``seconds`` later (None: never); their SELECT."""
    for index, span in enumerate(seconds):
        seen = None if span is None else NOW + datetime.timedelta(seconds=span)
        ProfileFactory(external_id=f"p{index}", signup_at=NOW, last_seen_at=seen)
    rows = Profile.objects.annotate(a=F("signup_at"), b=F("last_seen_at")).values("a", "b")
    return select_sql(rows.order_by())


def test_median_seconds_takes_the_middle_of_whole_seconds_and_skips_unset_ends():
    select, params = spans(40, 10.6, None, 9)

    assert median_seconds(select, params, "a", "b") == 11.0  # of 9, 11 and 40


def test_median_seconds_of_an_even_count_is_the_mean_of_the_two_middle_values():
    select, params = spans(100, 10, 40, 20)

    assert median_seconds(select, params, "a", "b") == 30.0


def test_median_seconds_without_rows_is_none():
    select, params = spans(None)

    assert median_seconds(select, params, "a", "b") is None


def test_transitions_insert_logs_a_move_per_profile_keeping_only_known_from_stages(journey):
    ProfileFactory(external_id="visitor", stage="visit")
    ProfileFactory(external_id="stray", stage="gone")  # a stage since deleted
    ProfileFactory(external_id="other", stage="")
    moving = (
        Profile.objects.exclude(external_id="other")
        .annotate(moving_id=F("pk"), moving_from=F("stage"))
        .values("moving_id", "moving_from")
    )

    moved = transitions_insert(moving, known=list(journey), to_stage="buy", at=NOW)

    assert moved == 2
    rows = StageTransition.objects.order_by("profile__external_id")
    assert [(t.profile.external_id, t.from_stage_id, t.to_stage_id, t.at) for t in rows] == [
        ("stray", None, "buy", NOW),
        ("visitor", "visit", "buy", NOW),
    ]
