"""The statements of profiles.sql, run on the database of the suite (SQLite, or PostgreSQL)."""

import datetime
import decimal

import pytest
from django.db import connection, transaction

from profiles import sql
from profiles.models import Event, Gender, Profile, ProfileTag, Provenance
from tests.factories import ProfileFactory, ProfileTagFactory, PurchaseFactory, TagFactory

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.UTC)


def profile(external_id: str, **fields) -> tuple:
    """Return a row of PROFILE_COLUMNS: empty text and no dates unless given."""
    values = {"email": "", "phone": "", "name": "", "gender": "", "birth_date": None, "city": "",
              "region": "", "signup_at": None, "wechat_openid": "", "wechat_unionid": "",
              "wecom_external_userid": "", "traits": "{}"} | fields  # fmt: skip
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


def test_profile_tags_insert_tags_the_selected_profiles_and_keeps_existing_rows():
    ann, bob, cat, _dan = (ProfileFactory(external_id=e) for e in ("ann", "bob", "cat", "dan"))
    tag = TagFactory(slug="vip")
    kept = ProfileTagFactory(profile=bob, tag=tag, provenance=Provenance.IMPORT)
    expires = AT + datetime.timedelta(days=7)
    values = {"tag": tag.pk, "provenance": Provenance.RULE, "set_at": AT, "set_by": None,
              "expires_at": expires}  # fmt: skip

    inserted = sql.profile_tags_insert(Profile.objects.exclude(external_id="dan"), values)

    assert inserted == 2
    rows = ProfileTag.objects.filter(tag=tag).order_by("profile__external_id")
    assert [(r.profile_id, r.provenance, r.set_at, r.set_by_id, r.expires_at) for r in rows] == [
        (ann.pk, Provenance.RULE, AT, None, expires),
        (bob.pk, Provenance.IMPORT, kept.set_at, None, None),
        (cat.pk, Provenance.RULE, AT, None, expires),
    ]
    assert sql.profile_tags_insert(Profile.objects.all(), values) == 1  # only dan is new


def test_features_refresh_sql_counts_whole_days_and_scores_the_window():
    now = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=datetime.UTC)
    almost, day, idle = (ProfileFactory(external_id=e) for e in ("almost", "day", "idle"))
    # One microsecond short of a day is still 0 whole days; the second purchase is in the
    # window only for "day" (its start is inclusive).
    PurchaseFactory(profile=almost, occurred_at=now - datetime.timedelta(days=1, microseconds=-1),
                    amount=decimal.Decimal("10.50"))  # fmt: skip
    PurchaseFactory(profile=almost, occurred_at=now - datetime.timedelta(days=31))
    PurchaseFactory(profile=day, occurred_at=now - datetime.timedelta(days=1))
    PurchaseFactory(profile=day, occurred_at=now - datetime.timedelta(days=30))
    PurchaseFactory(profile=idle, occurred_at=now + datetime.timedelta(days=1))  # after now
    adapt = connection.ops.adapt_datetimefield_value
    params = {"now": adapt(now), "since": adapt(now - datetime.timedelta(days=30)),
              "touch_since": adapt(now - datetime.timedelta(days=90)),
              "purchase": "purchase", "high_min": 12, "mid_min": 8,
              "high": "high", "mid": "mid", "mass": "mass"}  # fmt: skip

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.features_refresh_sql(), params)
        updated = cursor.rowcount

    assert updated == 3
    found = {
        p.external_id: (p.recency_days, p.frequency, p.monetary, p.r_score, p.f_score,
                        p.m_score, p.value_tier, p.features_at)
        for p in Profile.objects.all()
    }  # fmt: skip
    # Two purchasers: the better of each measure scores 1 + 1 * 5 // 2 = 3, the other 1.
    assert found == {
        "almost": (0, 1, decimal.Decimal("10.50"), 3, 1, 1, "mass", now),
        "day": (1, 2, decimal.Decimal("200.00"), 1, 3, 3, "mass", now),
        "idle": (None, 0, decimal.Decimal("0.00"), None, None, None, "mass", now),
    }
