"""The segment portrait: every dimension's counts, shares and TGI equal hand-written SQL."""

import datetime
import random

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from profiles.models import Gender, Profile, ValueTier
from profiles.services.features import features_refresh
from segments.models import Segment, SegmentMembership
from segments.portrait import NOT_SET, portrait_cache_clear, segment_portrait
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 15, 4, 0, tzinfo=datetime.UTC)  # 12:00 in Shanghai
CITIES = ["上海", "北京", "广州", ""]
TIERS = ["high", "mid", "mass", ""]


@pytest.fixture
def base():
    """Return a segment over a base of 60 varied profiles; every third one is a member."""
    rng = random.Random(7)
    tags = [TagFactory(slug=f"t{number}", label=f"标签{number}") for number in range(4)]
    segment = Segment.objects.create(name="S", slug="s", kind=Segment.Kind.STATIC)
    with time_machine.travel(NOW, tick=False):
        for number in range(60):
            profile = ProfileFactory(
                city=rng.choice(CITIES),
                value_tier=rng.choice(TIERS),
                gender=rng.choice(Gender.values),
                channel=rng.choice(["wechat", "organic", "partner-x", ""]),
                stage=rng.choice(["", "reach", "repurchase"]),
                birth_date=rng.choice([None, datetime.date(1960 + rng.randrange(50), 6, 15)]),
            )
            for tag in rng.sample(tags, rng.randrange(3)):
                expired = rng.random() < 0.2
                expires = NOW + datetime.timedelta(days=-1 if expired else 1)
                ProfileTagFactory(profile=profile, tag=tag, expires_at=expires)
            for _event in range(rng.randrange(4)):
                days = rng.choice([1, 30, 89, 91, 200])
                EventFactory(
                    profile=profile,
                    channel=rng.choice(["web", "app", "store"]),
                    occurred_at=NOW - datetime.timedelta(days=days),
                )
            if number % 3 == 0:
                SegmentMembership.objects.create(segment=segment, profile=profile)
    tiers = dict(Profile.objects.values_list("pk", "value_tier"))
    features_refresh(now=NOW)  # writes each profile's touchpoints of the last 90 days …
    for pk, tier in tiers.items():  # … and its value tier: the varied ones are put back
        Profile.objects.filter(pk=pk).update(value_tier=tier)
    return segment


def _query(sql: str, params=()) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {NOT_SET if key in ("", None) else str(key): n for key, n in cursor.fetchall()}


# Hand-written SQL, one pair of statements (segment, base) per dimension.
MEMBERS = "JOIN segments_segmentmembership m ON m.profile_id = p.id AND m.segment_id = %s"
HAND_SQL = {
    "city": (
        f"SELECT p.city, COUNT(*) FROM profiles_profile p {MEMBERS} GROUP BY p.city",
        "SELECT city, COUNT(*) FROM profiles_profile GROUP BY city",
    ),
    "gender": (
        f"SELECT p.gender, COUNT(*) FROM profiles_profile p {MEMBERS} GROUP BY p.gender",
        "SELECT gender, COUNT(*) FROM profiles_profile GROUP BY gender",
    ),
    "channel": (
        f"SELECT p.channel, COUNT(*) FROM profiles_profile p {MEMBERS} GROUP BY p.channel",
        "SELECT channel, COUNT(*) FROM profiles_profile GROUP BY channel",
    ),
    "tier": (
        f"SELECT p.value_tier, COUNT(*) FROM profiles_profile p {MEMBERS} GROUP BY p.value_tier",
        "SELECT value_tier, COUNT(*) FROM profiles_profile GROUP BY value_tier",
    ),
    "stage": (
        f"SELECT p.stage, COUNT(*) FROM profiles_profile p {MEMBERS} GROUP BY p.stage",
        "SELECT stage, COUNT(*) FROM profiles_profile GROUP BY stage",
    ),
    "tag": (
        "SELECT t.tag_id, COUNT(*) FROM profiles_profiletag t"
        " JOIN segments_segmentmembership m ON m.profile_id = t.profile_id AND m.segment_id = %s"
        " WHERE t.expires_at IS NULL OR t.expires_at > %s GROUP BY t.tag_id",
        "SELECT tag_id, COUNT(*) FROM profiles_profiletag"
        " WHERE expires_at IS NULL OR expires_at > %s GROUP BY tag_id",
    ),
    "touchpoint": (
        "SELECT e.channel, COUNT(DISTINCT e.profile_id) FROM profiles_event e"
        " JOIN segments_segmentmembership m ON m.profile_id = e.profile_id AND m.segment_id = %s"
        " WHERE e.occurred_at >= %s GROUP BY e.channel",
        "SELECT channel, COUNT(DISTINCT profile_id) FROM profiles_event"
        " WHERE occurred_at >= %s GROUP BY channel",
    ),
    # Ages on 2025-06-15 (local): born after 2007-06-15 is under 18, …, on or before
    # 1970-06-15 is 55 or over.
    "age": tuple(
        "SELECT CASE"
        " WHEN p.birth_date > '2007-06-15' THEN '<18'"
        " WHEN p.birth_date > '2000-06-15' THEN '18-24'"
        " WHEN p.birth_date > '1990-06-15' THEN '25-34'"
        " WHEN p.birth_date > '1980-06-15' THEN '35-44'"
        " WHEN p.birth_date > '1970-06-15' THEN '45-54'"
        " WHEN p.birth_date IS NOT NULL THEN '55+' ELSE '' END AS band, COUNT(*)"
        f" FROM profiles_profile p {join} GROUP BY band"
        for join in (MEMBERS, "")
    ),
}


def _params(key: str, segment_id: int | None) -> list:
    since = {"tag": NOW, "touchpoint": NOW - datetime.timedelta(days=90)}.get(key)
    return ([segment_id] if segment_id else []) + ([since] if since else [])


@pytest.mark.parametrize("key", list(HAND_SQL))
def test_each_dimension_equals_hand_written_sql(base, key):
    segment_sql, base_sql = HAND_SQL[key]
    size, base_size = base.memberships.count(), 60

    with time_machine.travel(NOW, tick=False):
        dimension = next(d for d in segment_portrait(segment=base).dimensions if d.key == key)
        expected = _query(segment_sql, _params(key, base.pk))
        expected_base = _query(base_sql, _params(key, None))

    got = {row.value: (row.count, row.base_count) for row in dimension.rows}
    assert got == {value: (n, expected_base[value]) for value, n in expected.items()}
    assert len(got) >= 2  # the fixture spreads the members over several values
    for row in dimension.rows:
        assert row.share == pytest.approx(expected[row.value] / size)
        assert row.base_share == pytest.approx(expected_base[row.value] / base_size)
        tgi = (expected[row.value] / size) / (expected_base[row.value] / base_size) * 100
        assert row.tgi == pytest.approx(tgi)


def test_values_come_highest_index_first_with_their_names(base):
    with time_machine.travel(NOW, tick=False):
        portrait = segment_portrait(segment=base)

    assert (portrait.size, portrait.base_size) == (20, 60)
    for dimension in portrait.dimensions:
        indexes = [row.tgi for row in dimension.rows]
        assert indexes == sorted(indexes, reverse=True)
    labels = {d.key: {row.value: row.label for row in d.rows} for d in portrait.dimensions}
    assert labels["tier"].get(ValueTier.HIGH) == "High value"
    assert labels["channel"].get("wechat") == "WeChat"
    assert labels["channel"].get("partner-x") in (None, "partner-x")  # the client's own word
    assert labels["city"].get(NOT_SET) in (None, "Not set")
    assert all(label.startswith("兴趣 Interests · 标签") for label in labels["tag"].values())


def test_a_stage_is_named_by_the_journeys_app(base):
    from journeys.models import JourneyStage

    JourneyStage.objects.update_or_create(
        slug="repurchase", defaults={"name": "复购", "position": 50, "rule": {}}
    )

    with time_machine.travel(NOW, tick=False):
        portrait = segment_portrait(segment=base)

    stage = next(d for d in portrait.dimensions if d.key == "stage")
    assert "复购" in {row.label for row in stage.rows}


def test_the_portrait_is_cached_per_segment_version_and_cleared_on_demand(base):
    with time_machine.travel(NOW, tick=False):
        before = segment_portrait(segment=base)
        SegmentMembership.objects.filter(segment=base).delete()
        cached = segment_portrait(segment=base)
        portrait_cache_clear(segment=base)
        fresh = segment_portrait(segment=base)

    assert before.size == cached.size == 20
    assert fresh.size == 0 and all(not d.rows for d in fresh.dimensions)


def test_a_new_version_is_not_served_from_the_cache(base):
    with time_machine.travel(NOW, tick=False):
        segment_portrait(segment=base)
        SegmentMembership.objects.filter(segment=base).delete()
        Segment.objects.filter(pk=base.pk).update(version=base.version + 1)
        base.refresh_from_db()

        assert segment_portrait(segment=base).size == 0


def test_an_empty_base_gives_an_empty_portrait(db):
    segment = Segment.objects.create(name="E", slug="e", kind=Segment.Kind.STATIC)

    portrait = segment_portrait(segment=segment)

    assert (portrait.size, portrait.base_size) == (0, 0)
    assert all(d.rows == [] for d in portrait.dimensions)


def test_the_local_date_decides_the_age_band(db):
    segment = Segment.objects.create(name="A", slug="a", kind=Segment.Kind.STATIC)
    profile = ProfileFactory(birth_date=datetime.date(2007, 6, 16))
    SegmentMembership.objects.create(segment=segment, profile=profile)
    # 2025-06-15 16:30 UTC is 2025-06-16 00:30 in Shanghai: the 18th birthday has begun there.
    moment = datetime.datetime(2025, 6, 15, 16, 30, tzinfo=datetime.UTC)

    with time_machine.travel(moment, tick=False):
        assert timezone.localdate() == datetime.date(2025, 6, 16)
        age = next(d for d in segment_portrait(segment=segment).dimensions if d.key == "age")

    assert [row.value for row in age.rows] == ["18-24"]


def test_with_the_base_warmed_a_portrait_counts_only_its_segment(base, monkeypatch):
    # Given: the base's counts put in the cache by the beat task.
    from segments import portrait
    from segments.tasks import portrait_base_warm_task

    assert portrait_base_warm_task() == 60
    counted = []
    counts = portrait._counts
    monkeypatch.setattr(
        portrait,
        "_counts",
        lambda segment_id, chosen: counted.append(segment_id) or counts(segment_id, chosen),
    )

    # When: a portrait is asked for.
    with time_machine.travel(NOW, tick=False):
        shown = segment_portrait(segment=base)

    # Then: only the segment was counted, and the base's figures are the warmed ones.
    assert counted == [base.pk]
    assert (shown.size, shown.base_size) == (20, 60)
