"""seed_demo fills an empty database with the same realistic data for the same seed."""

import datetime
import hashlib
import io
import json

import pgtrigger
import phonenumbers
import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from profiles.models import ConsentRecord, ConsentState, Event, Profile, ProfileTag, Tag
from profiles.services.consent import consent_sendable

pytestmark = pytest.mark.django_db(transaction=True)

ANCHOR = "2026-06-30"


def seed(**options) -> dict:
    out = io.StringIO()
    call_command("seed_demo", anchor=datetime.date.fromisoformat(ANCHOR), stdout=out, **options)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def fingerprint() -> str:
    digest = hashlib.sha256()
    for row in Profile.objects.order_by("external_id").values_list(
        "external_id", "name", "email", "phone", "city", "signup_at", "traits", "last_seen_at"
    ):
        digest.update(repr(row).encode())
    for row in Event.objects.order_by("key").values_list(
        "key", "profile__external_id", "name", "channel", "occurred_at", "amount"
    ):
        digest.update(repr(row).encode())
    for row in ProfileTag.objects.order_by("profile__external_id", "tag__slug").values_list(
        "profile__external_id", "tag__slug"
    ):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def wipe():
    # The demo's consent ledger goes too: the ledger refuses deletes (PROTECT from profiles, a
    # trigger on PostgreSQL) everywhere but here.
    with transaction.atomic(), pgtrigger.ignore("profiles.ConsentRecord:consent_ledger_no_delete"):
        ConsentState.objects.all().delete()
        ConsentRecord.objects.all().delete()
    Event.objects.all().delete()
    ProfileTag.objects.all().delete()
    Profile.objects.all().delete()


def test_the_same_seed_gives_the_same_data():
    seed(profiles=300, events=2000, seed=7)
    first = fingerprint()
    wipe()

    seed(profiles=300, events=2000, seed=7)

    assert fingerprint() == first


def test_another_seed_gives_other_data():
    seed(profiles=300, events=2000, seed=7)
    first = fingerprint()
    wipe()

    seed(profiles=300, events=2000, seed=8)

    assert fingerprint() != first


def test_it_prints_its_figures_as_one_json_line():
    figures = seed(profiles=200, events=1500)

    assert figures["profiles"] == 200
    assert figures["events"] == 1500
    assert figures["seconds"] >= 0
    assert Profile.objects.count() == 200
    assert Event.objects.count() == 1500


def test_the_data_is_realistic():
    seed(profiles=500, events=5000)

    names = list(Profile.objects.values_list("name", flat=True))
    assert any("\u4e00" <= name[0] <= "\u9fff" for name in names)  # Chinese names
    assert any(name.isascii() for name in names)  # English names
    for phone in Profile.objects.exclude(phone="").values_list("phone", flat=True)[:200]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(str(phone)))
    purchases = Event.objects.filter(name="purchase")
    assert purchases.exists()
    assert not purchases.filter(amount__isnull=True).exists()
    assert set(Event.objects.values_list("channel", flat=True)) >= {"web", "app", "store"}
    assert Tag.objects.values("category").distinct().count() >= 5
    for profile in Profile.objects.filter(events__isnull=False).distinct()[:50]:
        latest = profile.events.order_by("-occurred_at").first()
        assert profile.last_seen_at == latest.occurred_at
        assert profile.signup_at <= latest.occurred_at


def test_most_demo_profiles_may_get_email_and_the_state_matches_the_ledger():
    seed(profiles=500, events=1000)

    mailable = consent_sendable(profiles=Profile.objects.all(), channel="email").count()
    states = ConsentState.objects.values_list("record_id", "status")

    assert 250 < mailable < 450  # about 70 %
    assert {(pk, status) for pk, status in states} == set(
        ConsentRecord.objects.values_list("pk", "status")
    )  # one record per consent, so each is its own latest


def test_new_rows_get_fresh_ids_after_seeding():
    seed(profiles=50, events=100)

    created = Profile.objects.create(external_id="after-seed")

    assert created.pk > 50
    assert Profile.objects.count() == 51


def test_it_refuses_a_database_that_already_has_profiles():
    seed(profiles=10, events=10)

    with pytest.raises(CommandError, match="already holds 10 profiles"):
        seed(profiles=10, events=10)


def test_purchases_name_a_product_and_people_buy_from_their_interest():
    seed(profiles=400, events=8000, seed=5)

    purchases = Event.objects.filter(name="purchase").values_list("properties", "profile__traits")
    assert purchases
    assert all(props["product"].startswith(props["category"] + "-") for props, _t in purchases)
    from_interest = sum(props["category"] == traits["interest"] for props, traits in purchases)
    # 8 categories: chance alone would give about 1 in 8; the taste gives well over half.
    assert from_interest / len(purchases) > 0.5
