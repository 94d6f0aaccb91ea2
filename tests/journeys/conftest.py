"""Fixtures of the journey tests: a small journey of three stages, defined here."""

import datetime

import pytest

from journeys.models import JourneyStage, StageTransition

NOW = datetime.datetime(2024, 6, 30, 12, 0, tzinfo=datetime.UTC)


def count(event: str, at_least: int = 1, days: int = 3650) -> dict:
    return {"event": event, "within_days": days, "count": {"gte": at_least}}


JOURNEY = [
    ("visit", "Visit", count("page_view")),
    ("buy", "Buy", count("purchase")),
    ("rebuy", "Buy again", count("purchase", 2)),
]


@pytest.fixture
def journey(db):
    """Replace the configured stages with visit → buy → rebuy; return them by slug."""
    StageTransition.objects.all().delete()
    JourneyStage.objects.all().delete()
    return {
        slug: JourneyStage.objects.create(slug=slug, name=name, position=10 * (i + 1), rule=rule)
        for i, (slug, name, rule) in enumerate(JOURNEY)
    }
