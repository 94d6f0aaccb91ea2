"""Data-subject requests: a complete export, an erasure that keeps aggregates, both recorded."""

import datetime
import json
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from profiles.models import Event, PrivacyRequest, Profile, ProfileMerge, ProfileTag
from profiles.services.features import features_refresh
from profiles.services.merge import profile_merge
from profiles.services.privacy import (
    EXPORT_FORMAT,
    erased_external_id,
    profile_erase,
    profile_export,
)
from profiles.views.privacy import MESSAGE_ERASED
from tests.factories import (
    EventFactory,
    ProfileFactory,
    ProfileTagFactory,
    PurchaseFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def customer(consent_admin):
    """Han Meimei, with events, a tag, an earlier merge, computed features and an export."""
    with time_machine.travel(NOW - datetime.timedelta(days=10), tick=False):
        profile = ProfileFactory(
            external_id="crm-42",
            email="han.meimei@example.com",
            phone="+8613912345678",
            name="韩梅梅",
            gender="female",
            birth_date=datetime.date(1990, 5, 4),
            city="杭州",
            region="浙江",
            channel="mini_program",
            traits={"membership": "gold", "wechat": "hmm_1990"},
        )
        PurchaseFactory(
            profile=profile,
            amount=Decimal("88.50"),
            properties={"sku": "TEA-1", "address": "西湖区文三路 1 号"},
        )
        EventFactory(profile=profile, properties={"url": "/tea?email=han.meimei@example.com"})
        ProfileTagFactory(profile=profile, tag=TagFactory(slug="tea-lover"), provenance="model")
        duplicate = ProfileFactory(external_id="wx-42", email="hmm@example.com")
        profile_merge(source=duplicate, target=profile, user=consent_admin)
        profile_export(profile=profile, user=consent_admin, reason="ticket 7")
    with time_machine.travel(NOW, tick=False):
        features_refresh()
    profile.refresh_from_db()
    return profile


@time_machine.travel(NOW, tick=False)
def test_the_export_holds_everything_stored_about_the_profile(customer, consent_admin):
    data = profile_export(profile=customer, user=consent_admin, reason="ticket 8")

    assert json.loads(json.dumps(data)) == data
    assert data["format"] == EXPORT_FORMAT
    assert data["profile"]["external_id"] == "crm-42"
    assert data["profile"]["email"] == "han.meimei@example.com"
    assert data["profile"]["phone"] == "+8613912345678"
    assert data["profile"]["birth_date"] == "1990-05-04"
    assert data["traits"] == {"membership": "gold", "wechat": "hmm_1990"}
    assert data["features"]["frequency"] == 1
    assert data["features"]["monetary"] == "88.50"
    assert data["features"]["recency_days"] == 10
    assert [event["name"] for event in data["events"]] == ["purchase", "page_view"]
    assert data["events"][0]["properties"]["sku"] == "TEA-1"
    assert data["tags"] == [
        {
            "tag": "tea-lover",
            "label": "tea-lover",
            "category": "interest",
            "provenance": "model",
            "set_at": "2025-06-20T04:00:00Z",
            "set_by": None,
            "expires_at": None,
        }
    ]
    assert data["merges"][0]["merged_profile"] == "wx-42"
    assert data["merges"][0]["merged_profile_fields"]["email"] == "hmm@example.com"
    assert data["merges"][0]["merged_by"] == "cora-consent"
    assert [(r["kind"], r["reason"]) for r in data["privacy_requests"]] == [
        ("export", "ticket 7"),
        ("export", "ticket 8"),
    ]


@time_machine.travel(NOW, tick=False)
def test_an_export_is_recorded_as_a_data_subject_request(customer, consent_admin):
    profile_export(profile=customer, user=consent_admin, reason="ticket 8")

    request = PrivacyRequest.objects.order_by("done_at", "pk").last()
    assert request.kind == PrivacyRequest.Kind.EXPORT
    assert request.profile == customer
    assert request.external_id == "crm-42"
    assert request.requested_by == consent_admin
    assert request.reason == "ticket 8"
    assert request.done_at == NOW


@time_machine.travel(NOW, tick=False)
def test_erasure_removes_personal_data(customer, consent_admin):
    profile_erase(profile=customer, user=consent_admin, reason="ticket 9")

    profile = Profile.objects.get(pk=customer.pk)
    assert profile.external_id == erased_external_id("crm-42")
    assert profile.external_id.startswith("erased-")
    assert "crm-42" not in profile.external_id
    assert (profile.email, str(profile.phone), profile.name, profile.city) == ("", "", "", "")
    assert profile.gender == "unknown"
    assert profile.birth_date is None
    assert profile.traits == {}
    assert not ProfileTag.objects.filter(profile=profile).exists()
    assert all(
        properties == {} for properties in Event.objects.values_list("properties", flat=True)
    )


@time_machine.travel(NOW, tick=False)
def test_erasure_keeps_the_aggregates(customer, consent_admin):
    profile_erase(profile=customer, user=consent_admin, reason="ticket 9")

    profile = Profile.objects.get(pk=customer.pk)
    assert profile.region == "浙江"
    assert profile.channel == "mini_program"
    assert (profile.recency_days, profile.frequency, profile.monetary) == (10, 1, Decimal("88.50"))
    assert profile.value_tier == customer.value_tier
    assert sorted(Event.objects.filter(profile=profile).values_list("name", "amount")) == [
        ("page_view", None),
        ("purchase", Decimal("88.50")),
    ]


@time_machine.travel(NOW, tick=False)
def test_erasure_scrubs_the_identifier_from_earlier_requests_and_merges(customer, consent_admin):
    profile_erase(profile=customer, user=consent_admin, reason="ticket 9")

    merge = ProfileMerge.objects.get()
    assert set(PrivacyRequest.objects.values_list("external_id", flat=True)) == {
        erased_external_id("crm-42")
    }
    assert merge.source_external_id == erased_external_id("wx-42")
    assert merge.target_external_id == erased_external_id("crm-42")
    assert merge.source_snapshot == {}
    assert set(merge.moved.values()) == {0}


@time_machine.travel(NOW, tick=False)
def test_erasure_is_recorded_and_can_be_repeated_without_changing_the_placeholder(
    customer, consent_admin
):
    first = profile_erase(profile=customer, user=consent_admin, reason="ticket 9")

    second = profile_erase(profile=customer, user=consent_admin, reason="ticket 10")

    assert (first.kind, first.reason, first.requested_by) == ("erase", "ticket 9", consent_admin)
    assert first.profile == second.profile == customer
    assert first.external_id == second.external_id == erased_external_id("crm-42")
    assert PrivacyRequest.objects.filter(kind=PrivacyRequest.Kind.ERASE).count() == 2


# --------------------------------------------------------------------------- pages


def test_a_consent_admin_downloads_the_export_as_a_json_attachment(client, customer, consent_admin):
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:export", args=["crm-42"]), {"reason": "phone call, ticket 11"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="profile-crm-42-')
    assert "no-store" in response["Cache-Control"]
    assert response.json()["profile"]["email"] == "han.meimei@example.com"
    assert PrivacyRequest.objects.filter(reason="phone call, ticket 11").exists()


def test_a_consent_admin_erases_with_a_reason_and_returns_to_the_profile(
    client, customer, consent_admin
):
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:erase", args=["crm-42"]),
        {"reason": "email of 2025-06-30", "confirm": "on"},
        follow=True,
    )

    placeholder = erased_external_id("crm-42")
    assert response.redirect_chain[-1][0] == reverse("profiles:detail", args=[placeholder])
    assert str(MESSAGE_ERASED) in [str(m) for m in response.context["messages"]]
    assert Profile.objects.get(pk=customer.pk).email == ""
    assert PrivacyRequest.objects.get(kind="erase").reason == "email of 2025-06-30"


@pytest.mark.parametrize(
    "data", [{"confirm": "on"}, {"reason": "   ", "confirm": "on"}, {"reason": "ticket 12"}]
)
def test_erasure_needs_a_reason_and_a_confirmation(client, customer, consent_admin, data):
    client.force_login(consent_admin)

    response = client.post(reverse("profiles:erase", args=["crm-42"]), data)

    assert response.status_code == 200
    assert response.context["form"].errors
    assert Profile.objects.get(pk=customer.pk).email == "han.meimei@example.com"
    assert not PrivacyRequest.objects.filter(kind="erase").exists()


def test_erasure_is_post_only(client, customer, consent_admin):
    client.force_login(consent_admin)

    response = client.get(reverse("profiles:erase", args=["crm-42"]))

    assert response.status_code == 405
    assert Profile.objects.get(pk=customer.pk).email == "han.meimei@example.com"


@pytest.mark.parametrize("persona", ["ops_user", "campaign_manager", "outsider"])
def test_other_roles_may_neither_export_nor_erase(client, customer, persona, request):
    client.force_login(request.getfixturevalue(persona))
    requests_before = PrivacyRequest.objects.count()

    exported = client.post(reverse("profiles:export", args=["crm-42"]))
    erased = client.post(
        reverse("profiles:erase", args=["crm-42"]), {"reason": "x", "confirm": "on"}
    )

    assert exported.status_code == 403
    assert erased.status_code == 403
    assert PrivacyRequest.objects.count() == requests_before
    assert Profile.objects.get(pk=customer.pk).email == "han.meimei@example.com"


def test_the_profile_page_shows_the_request_card_to_consent_admins_only(
    client, customer, consent_admin, ops_user
):
    detail = reverse("profiles:detail", args=["crm-42"])

    client.force_login(ops_user)
    as_ops = client.get(detail).content.decode()
    client.force_login(consent_admin)
    as_admin = client.get(detail).content.decode()

    assert 'id="data-subject-requests"' not in as_ops
    assert 'id="data-subject-requests"' in as_admin
    assert reverse("profiles:export", args=["crm-42"]) in as_admin
    assert reverse("profiles:erase", args=["crm-42"]) in as_admin


def test_a_superuser_may_export(client, customer, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com"))

    response = client.post(reverse("profiles:export", args=["crm-42"]))

    assert response.status_code == 200
