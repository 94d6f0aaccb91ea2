"""The statements of profiles.sql, run on the database of the suite (SQLite, or PostgreSQL)."""

import datetime
import decimal

import pytest

from profiles import sql
from profiles.models import Event, Gender, Profile

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.UTC)


def profile(external_id: str, **fields) -> tuple:
    """Return a row of PROFILE_COLUMNS: empty text and no dates unless given."""
    values = {"email": "", "phone": "", "name": "", "gender": "", "birth_date": None, "city": "",
              "region": "", "signup_at": None, "traits": "{}"} | fields  # fmt: skip
    return (external_id, *(values[c] for c in sql.PROFILE_COLUMNS[1:]))


def upsert(*rows: tuple) -> tuple[int, int]:
    return sql.profiles_upsert(sql.batch_prepare(list(rows)))


def store(*rows: tuple) -> tuple[int, int]:
    return sql.events_store(sql.batch_prepare(list(rows)), AT)


def test_profiles_upsert_inserts_new_profiles_with_unknown_gender_and_counts_them():
    created = upsert(profile("a", city="上海", birth_date=datetime.date(1990, 5, 1)), profile("b"))

    assert created == (2, 0)
    a, b = Profile.objects.order_by("external_id")
    assert (a.city, a.birth_date, a.gender) == ("上海", datetime.date(1990, 5, 1), Gender.UNKNOWN)
    assert b.gender == Gender.UNKNOWN


def test_profiles_upsert_merges_non_empty_values_and_traits_and_skips_unchanged_rows():
    upsert(profile("a", city="上海", name="王", traits='{"k": 1, "x": "y"}'), profile("b"))

    counts = upsert(
        profile("a", city="北京", signup_at=AT, traits='{"k": 2}'),  # changes
        profile("b"),  # nothing new: not updated
        profile("c", gender=Gender.FEMALE),  # new
    )

    assert counts == (1, 1)
    a = Profile.objects.get(external_id="a")
    assert (a.city, a.name, a.signup_at, a.traits) == ("北京", "王", AT, {"k": 2, "x": "y"})
    assert Profile.objects.get(external_id="c").gender == Gender.FEMALE


def test_events_store_creates_unknown_profiles_and_skips_keys_already_stored():
    upsert(profile("known"))
    first = ("known", "purchase", "web", AT, decimal.Decimal("9.90"), '{"sku": "A1"}', "id:1")
    second = ("new", "page_view", "app", AT, None, "{}", "id:2")

    counts = store(first, second)
    again = store(first, second)

    assert counts == (2, 1)
    assert again == (0, 0)
    stored = {e.key: (e.profile.external_id, e.amount, e.properties) for e in Event.objects.all()}
    assert stored == {
        "id:1": ("known", decimal.Decimal("9.90"), {"sku": "A1"}),
        "id:2": ("new", None, {}),
    }


def test_last_seen_touch_only_moves_last_seen_forward():
    upsert(profile("a"), profile("b"))
    Profile.objects.filter(external_id="b").update(last_seen_at=AT)
    earlier = AT - datetime.timedelta(days=1)

    sql.last_seen_touch({"a": AT, "b": earlier, "missing": AT})

    seen = dict(Profile.objects.values_list("external_id", "last_seen_at"))
    assert seen == {"a": AT, "b": AT}
