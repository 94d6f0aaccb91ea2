"""The campaigns API: read by all roles, write by campaign managers, status actions, filters."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, Send
from campaigns.services import workflow
from tests.campaigns.campaign_builders import campaign_make, segment_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/campaigns/"
S = Campaign.Status


def detail(slug: str, action: str = "") -> str:
    return f"{CAMPAIGNS}{slug}/" + (f"{action}/" if action else "")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def manager_api(campaign_manager):
    return client_for(campaign_manager)


@pytest.fixture
def ops_api(ops_user):
    return client_for(ops_user)


def _body(**overrides):
    segment_make()
    body = {
        "name": "Spring sale",
        "channel": "email",
        "include_segments": ["shanghai"],
        "holdout_percent": 10,
        "variants": [
            {"key": "A", "weight": 50, "subject": "Hi {{ name }}", "body_text": "A"},
            {"key": "B", "weight": 50, "subject": "Yo {{ name }}", "body_text": "B"},
        ],
    }
    body.update(overrides)
    return body


def _tomorrow() -> str:
    return (timezone.now() + datetime.timedelta(days=1)).isoformat()


def test_ops_staff_read_the_list_with_variants_and_counts(ops_api):
    campaign = campaign_make(status=S.SENDING)
    for status in ("sent", "sent", "skipped"):
        Send.objects.create(campaign=campaign, profile=ProfileFactory(), status=status)

    response = ops_api.get(CAMPAIGNS)

    (row,) = response.json()["results"]
    assert row["slug"] == "spring-sale"
    assert [v["key"] for v in row["variants"]] == ["A", "B"]
    assert row["counts"]["sent"] == 2
    assert row["counts"]["total"] == 3
    assert row["include_segments"] == ["shanghai"]


def test_the_list_filters_by_status_channel_and_kind(ops_api):
    campaign_make(slug="a", status=S.SENT)
    campaign_make(slug="b", channel="sms")

    sent = ops_api.get(CAMPAIGNS, {"status": "sent"}).json()["results"]
    sms = ops_api.get(CAMPAIGNS, {"channel": "sms"}).json()["results"]
    triggered = ops_api.get(CAMPAIGNS, {"kind": "triggered"}).json()["results"]

    assert ([c["slug"] for c in sent], [c["slug"] for c in sms], triggered) == (["a"], ["b"], [])


def test_ops_staff_cannot_create_or_change_status(ops_api):
    campaign = campaign_make()

    codes = [
        ops_api.post(CAMPAIGNS, _body(), format="json").status_code,
        ops_api.patch(detail(campaign.slug), {"name": "x"}, format="json").status_code,
        ops_api.post(
            detail(campaign.slug, "schedule"), {"send_at": _tomorrow()}, format="json"
        ).status_code,
        ops_api.post(detail(campaign.slug, "cancel")).status_code,
    ]

    assert codes == [403, 403, 403, 403]


def test_an_outsider_cannot_read(outsider):
    assert client_for(outsider).get(CAMPAIGNS).status_code == 403


def test_a_manager_creates_a_campaign(manager_api):
    response = manager_api.post(CAMPAIGNS, _body(), format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "draft"
    assert response.json()["slug"] == "spring-sale"
    assert Campaign.objects.get().variants.count() == 2


def test_a_template_error_is_a_400_naming_the_variant(manager_api):
    body = _body(variants=[{"key": "A", "weight": 1, "subject": "{{ x.__class__ }}"}])

    response = manager_api.post(CAMPAIGNS, body, format="json")

    assert response.status_code == 400
    assert response.json()["variants"][0].startswith("Variant A:")


def test_a_manager_updates_a_draft(manager_api):
    campaign = campaign_make()

    response = manager_api.patch(
        detail(campaign.slug), {"name": "Renamed", "holdout_percent": 20}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["holdout_percent"]) == ("Renamed", 20)


def test_a_sending_campaign_cannot_be_updated(manager_api):
    campaign = campaign_make(status=S.SENDING)

    response = manager_api.patch(detail(campaign.slug), {"name": "x"}, format="json")

    assert response.status_code == 409


def test_a_manager_schedules_pauses_resumes_and_cancels(manager_api):
    campaign = campaign_make()

    scheduled = manager_api.post(
        detail(campaign.slug, "schedule"), {"send_at": _tomorrow()}, format="json"
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=S.SENDING)
    paused = manager_api.post(detail(campaign.slug, "pause"))
    resumed = manager_api.post(detail(campaign.slug, "resume"))
    cancelled = manager_api.post(detail(campaign.slug, "cancel"))

    assert [r.json()["status"] for r in (scheduled, paused, resumed, cancelled)] == [
        "scheduled",
        "paused",
        "sending",
        "cancelled",
    ]


def test_an_invalid_transition_is_a_409_with_the_reason(manager_api):
    campaign = campaign_make()

    response = manager_api.post(detail(campaign.slug, "pause"))

    assert response.status_code == 409
    assert response.json() == {"detail": "A draft campaign cannot be paused."}


def test_scheduling_in_the_past_is_a_400(manager_api):
    campaign = campaign_make()

    response = manager_api.post(
        detail(campaign.slug, "schedule"), {"send_at": "2020-01-01T00:00:00Z"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["send_at"] == [workflow.ERROR_SEND_AT_PAST]


def test_the_schema_lists_the_campaign_actions(ops_api):
    response = ops_api.get("/api/v1/schema/", {"format": "json"})

    paths = response.json()["paths"]
    assert "/api/v1/campaigns/{slug}/schedule/" in paths
    assert "post" in paths["/api/v1/campaigns/{slug}/cancel/"]
