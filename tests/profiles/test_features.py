"""Computed features: RFM from a transaction log small enough to check by hand."""

import datetime
import json
import zoneinfo
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from config.celery import app
from profiles.models import TOUCHPOINT_BITS, Profile
from profiles.services.features import features_refresh
from profiles.tasks import features_refresh_task
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


def ago(days: float = 0, hours: float = 0) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days, hours=hours)


def purchases(profile: Profile, *items: tuple[datetime.datetime, str]) -> None:
    for occurred_at, amount in items:
        PurchaseFactory(profile=profile, occurred_at=occurred_at, amount=Decimal(amount))


@pytest.fixture
def shop():
    """Eight customers; the six with a purchase in the last 365 days are ranked below.

    | who   | recency | frequency | monetary | R | F | M | R+F+M | tier |
    |-------|---------|-----------|----------|---|---|---|-------|------|
    | alice | 2       | 3         | 600.00   | 5 | 4 | 3 | 12    | high |
    | bob   | 9       | 2         | 100.00   | 3 | 2 | 1 | 6     | mass |
    | cathy | 30      | 1         | 1000.00  | 1 | 1 | 5 | 7     | mass |
    | dora  | 30      | 2         | 300.00   | 1 | 2 | 2 | 5     | mass |
    | eve   | 300     | 1         | 20.00    | 1 | 1 | 1 | 3     | mass |
    | finn  | 5       | 3         | 600.00   | 4 | 4 | 3 | 11    | mid  |
    | gus   | 400     | 0         | 0        | - | - | - | -     | mass |
    | hana  | -       | 0         | 0        | - | - | - | -     | mass |

    Score = 1 + (number of purchasers with a strictly worse value) * 5 // 6.
    """
    people = {name: ProfileFactory(external_id=name) for name in (
        "alice", "bob", "cathy", "dora", "eve", "finn", "gus", "hana"
    )}  # fmt: skip
    purchases(people["alice"], (ago(2), "300.00"), (ago(40), "200.00"), (ago(100), "100.00"))
    purchases(people["bob"], (ago(9, hours=23), "50.00"), (ago(200), "50.00"))
    purchases(people["cathy"], (ago(30), "1000.00"))
    purchases(people["dora"], (ago(30, hours=2), "150.55"), (ago(60), "149.45"))
    purchases(people["eve"], (ago(300), "20.00"))
    EventFactory(profile=people["eve"], occurred_at=ago(1))
    purchases(
        people["finn"],
        (ago(5), "400.00"),
        (ago(50), "100.00"),
        (ago(90), "100.00"),
        (ago(400), "999.00"),
    )
    purchases(people["gus"], (ago(400), "500.00"))
    EventFactory(profile=people["hana"], occurred_at=ago(3))
    EventFactory(profile=people["hana"], occurred_at=ago(20))
    return people


def features(external_id: str) -> tuple:
    profile = Profile.objects.get(external_id=external_id)
    return (
        profile.recency_days,
        profile.frequency,
        profile.monetary,
        profile.r_score,
        profile.f_score,
        profile.m_score,
        profile.value_tier,
    )


@time_machine.travel(NOW, tick=False)
def test_it_computes_rfm_scores_and_tiers_from_the_purchases_in_the_window(shop):
    figures = features_refresh()

    assert figures["profiles"] == 8
    assert figures["scored"] == 6
    assert figures["tiers"] == {"high": 1, "mid": 1, "mass": 6}
    assert features("alice") == (2, 3, Decimal("600.00"), 5, 4, 3, "high")
    assert features("bob") == (9, 2, Decimal("100.00"), 3, 2, 1, "mass")
    assert features("cathy") == (30, 1, Decimal("1000.00"), 1, 1, 5, "mass")
    assert features("dora") == (30, 2, Decimal("300.00"), 1, 2, 2, "mass")
    assert features("eve") == (300, 1, Decimal("20.00"), 1, 1, 1, "mass")
    assert features("finn") == (5, 3, Decimal("600.00"), 4, 4, 3, "mid")


@time_machine.travel(NOW, tick=False)
def test_purchases_only_outside_the_window_give_recency_but_no_scores(shop):
    features_refresh()

    gus = Profile.objects.get(external_id="gus")
    assert features("gus") == (400, 0, Decimal("0.00"), None, None, None, "mass")
    assert gus.first_purchase_at == gus.last_purchase_at == ago(400)
    assert gus.last_seen_at == ago(400)


@time_machine.travel(NOW, tick=False)
def test_a_profile_with_page_views_only_is_seen_but_has_no_purchase_features(shop):
    features_refresh()

    hana = Profile.objects.get(external_id="hana")
    assert features("hana") == (None, 0, Decimal("0.00"), None, None, None, "mass")
    assert hana.last_seen_at == ago(3)
    assert hana.first_purchase_at is None
    assert hana.last_purchase_at is None


@time_machine.travel(NOW, tick=False)
def test_last_seen_is_the_latest_event_of_any_kind_and_purchases_span_all_time(shop):
    features_refresh()

    eve = Profile.objects.get(external_id="eve")
    finn = Profile.objects.get(external_id="finn")
    assert eve.last_seen_at == ago(1)
    assert eve.first_purchase_at == eve.last_purchase_at == ago(300)
    assert finn.first_purchase_at == ago(400)
    assert finn.last_purchase_at == ago(5)
    assert finn.features_at == NOW


@time_machine.travel(NOW, tick=False)
def test_recency_counts_whole_days_only():
    profile = ProfileFactory()
    purchases(
        profile,
        (
            ago(
                9,
                hours=23,
            ),
            "10.00",
        ),
    )

    features_refresh()

    profile.refresh_from_db()
    assert profile.recency_days == 9


@time_machine.travel(NOW, tick=False)
def test_the_window_setting_is_read_at_call_time_and_its_start_is_inclusive(shop, settings):
    settings.RFM_WINDOW_DAYS = 30

    figures = features_refresh()

    assert figures["window_days"] == 30
    assert features("alice")[1:3] == (1, Decimal("300.00"))
    assert features("bob")[1:3] == (1, Decimal("50.00"))
    assert features("cathy")[1:3] == (1, Decimal("1000.00"))
    assert features("dora")[1:3] == (0, Decimal("0.00"))
    assert features("finn")[1:3] == (1, Decimal("400.00"))
    assert features("eve") == (300, 0, Decimal("0.00"), None, None, None, "mass")


@time_machine.travel(NOW, tick=False)
def test_events_after_now_are_ignored():
    profile = ProfileFactory()
    purchases(profile, (ago(10), "10.00"), (ago(-1), "99.00"))

    features_refresh()

    profile.refresh_from_db()
    assert (profile.recency_days, profile.frequency, profile.monetary) == (10, 1, Decimal("10"))
    assert profile.last_seen_at == ago(10)


@time_machine.travel(NOW, tick=False)
def test_refreshing_again_gives_the_same_result(shop):
    features_refresh()
    first = list(Profile.objects.order_by("pk").values())

    features_refresh()

    assert list(Profile.objects.order_by("pk").values()) == first


@time_machine.travel(NOW, tick=False)
def test_a_later_refresh_resets_features_that_no_longer_hold(shop):
    features_refresh()

    features_refresh(now=NOW + datetime.timedelta(days=400))

    assert features("alice") == (402, 0, Decimal("0.00"), None, None, None, "mass")


@time_machine.travel(NOW, tick=False)
def test_the_command_prints_the_figures_as_one_json_line_at_the_end(shop):
    out = StringIO()

    call_command("refresh_features", stdout=out)

    lines = out.getvalue().strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["profiles"] == 8
    assert figures["scored"] == 6
    assert "8 profiles updated" in out.getvalue()
    assert figures["seconds"] >= 0


@time_machine.travel(NOW, tick=False)
def test_the_task_refreshes_and_runs_nightly_from_the_beat_schedule(shop, settings):
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-features"]

    figures = features_refresh_task()

    assert figures["profiles"] == 8
    assert entry["task"] == features_refresh_task.name
    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {3}
    assert entry["schedule"].minute == {0}


def test_touchpoints_hold_a_bit_for_each_channel_of_the_last_90_days():
    # Given: events on the web 10 days ago, in the store 5 days ago and twice then, in the app
    # 100 days ago (too old), on an unknown channel; and a profile without events.
    seen, quiet = ProfileFactory(), ProfileFactory()
    for channel, days in [("web", 10), ("store", 5), ("store", 5), ("app", 100), ("x", 1)]:
        EventFactory(profile=seen, channel=channel, occurred_at=NOW - datetime.timedelta(days=days))

    # When: the features are refreshed.
    features_refresh(now=NOW)

    # Then: the web's and the store's bits are set, and nothing else.
    seen.refresh_from_db()
    quiet.refresh_from_db()
    assert seen.touchpoints == TOUCHPOINT_BITS["web"] | TOUCHPOINT_BITS["store"]
    assert quiet.touchpoints == 0
