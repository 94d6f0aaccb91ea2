"""The data-subject export holds everything stored about the person (consents, sends, segments,
stages, scores, flows) and is a POST: a link cannot make a consent admin export with a reason of
an attacker's choosing."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Send, TrackingEvent
from flows.models import Enrollment
from journeys.models import JourneyStage, StageTransition
from predictions.models import Prediction, PredictionRun
from profiles.models import PrivacyRequest
from profiles.services.consent import ConsentEntry, consent_record
from profiles.services.privacy import profile_export
from segments.models import SegmentTransition
from tests.campaigns.campaign_builders import campaign_make
from tests.campaigns.delivery_builders import segment_with
from tests.factories import ProfileFactory
from tests.flows.helpers import email_step, live_flow

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def customer():
    """A profile with a consent, a send that was clicked, a segment, a stage, scores, a flow."""
    stage = JourneyStage.objects.order_by("position").first()
    profile = ProfileFactory(external_id="crm-42", email="han.meimei@example.com", stage=stage.slug)
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk,
            channel="email",
            purpose="marketing",
            status="granted",
            source="web_form",
            evidence_ip="203.0.113.9",
            evidence_user_agent="Mozilla/5.0",
            evidence="Checkout newsletter box",
        )
    )
    send = Send.objects.create(
        campaign=campaign_make(),
        profile=profile,
        status=Send.Status.SENT,
        address=profile.email,
        sent_at=NOW,
    )
    TrackingEvent.objects.create(send=send, kind="click", url="https://shop.example/tea")
    segment = segment_with([profile], slug="tea-lovers")
    SegmentTransition.objects.create(
        segment=segment, profile=profile, entered=True, version=1, at=NOW
    )
    StageTransition.objects.create(profile=profile, to_stage=stage, at=NOW)
    run = PredictionRun.objects.create(as_of=NOW, cutoff=NOW - datetime.timedelta(days=90))
    Prediction.objects.create(
        profile=profile,
        p_alive=0.9,
        churn_risk=0.1,
        repurchase_probability_90d=0.4,
        expected_purchases_90d=1.2,
        clv_365d=Decimal("300.00"),
        cluster="loyal",
        scored_at=NOW,
        run=run,
    )
    flow = live_flow([email_step()])
    Enrollment.objects.create(
        flow=flow,
        version=flow.version,
        profile=profile,
        step_key="mail",
        step_since=NOW,
        entered_at=NOW,
    )
    return profile


def test_the_export_holds_consents_sends_segments_stages_scores_and_flows(customer, consent_admin):
    data = profile_export(profile=customer, user=consent_admin, reason="ticket 8")

    assert [(c["channel"], c["status"], c["evidence_ip"]) for c in data["consents"]] == [
        ("email", "granted", "203.0.113.9")
    ]
    assert data["consents"][0]["evidence"] == "Checkout newsletter box"
    assert [(s["campaign"], s["status"], s["address"]) for s in data["sends"]] == [
        ("spring-sale", "sent", "han.meimei@example.com")
    ]
    assert data["sends"][0]["tracking"][0]["url"] == "https://shop.example/tea"
    assert [m["segment"] for m in data["segments"]["memberships"]] == ["tea-lovers"]
    assert data["segments"]["transitions"][0]["entered"] is True
    stage = JourneyStage.objects.order_by("position").first().slug
    assert data["stages"]["stage"] == stage
    assert [h["to_stage"] for h in data["stages"]["history"]] == [stage]
    assert data["scores"]["cluster"] == "loyal"
    assert data["scores"]["clv_365d"] == "300.00"
    assert [(f["flow"], f["step"]) for f in data["flows"]] == [("cart", "mail")]


def test_a_consent_admin_exports_by_posting_a_reason(client, customer, consent_admin):
    client.force_login(consent_admin)

    response = client.post(
        reverse("profiles:export", args=["crm-42"]), {"reason": "phone call, ticket 11"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith('attachment; filename="profile-crm-42-')
    assert response.json()["consents"][0]["status"] == "granted"
    assert PrivacyRequest.objects.filter(reason="phone call, ticket 11").exists()


def test_a_link_cannot_export_with_a_reason_of_its_choosing(client, customer, consent_admin):
    client.force_login(consent_admin)

    response = client.get(
        reverse("profiles:export", args=["crm-42"]), {"reason": "requested by the person"}
    )

    assert response.status_code == 405
    assert not PrivacyRequest.objects.exists()


def test_a_cross_site_post_cannot_export(customer, consent_admin):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(consent_admin)

    response = client.post(reverse("profiles:export", args=["crm-42"]), {"reason": "x"})

    assert response.status_code == 403
    assert not PrivacyRequest.objects.exists()


def test_the_profile_page_exports_through_a_posted_form(client, customer, consent_admin):
    client.force_login(consent_admin)

    html = client.get(reverse("profiles:detail", args=["crm-42"])).content.decode()

    action = reverse("profiles:export", args=["crm-42"])
    assert f'<form method="post" action="{action}"' in html
