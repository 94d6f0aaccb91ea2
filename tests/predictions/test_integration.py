"""The scores where they matter: segment rules, message templates and the API."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Variant
from campaigns.services.content import message_render, template_check
from predictions.models import Prediction, PredictionRun
from profiles.models import ConsentPurpose, Profile
from profiles.services.consent import ConsentEntry, consent_record
from segments import rules
from segments.compiler import compile_rule
from segments.models import Segment
from segments.services import segment_evaluate
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(db):
    """Three scored profiles (ann, bob, cat) and one without scores (dan)."""
    now = timezone.now()
    run = PredictionRun.objects.create(as_of=now, cutoff=now - datetime.timedelta(days=90))
    figures = {
        "ann": (0.9, Decimal("2500.00"), "loyal-big-spenders", ["beauty-serum", "beauty-toner"]),
        "bob": (0.2, Decimal("120.50"), "new-low-value", []),
        "cat": (0.75, Decimal("900.00"), "loyal-big-spenders", ["sports-yoga-mat"]),
    }
    for external_id, (churn, clv, cluster, recommendations) in figures.items():
        Prediction.objects.create(
            profile=ProfileFactory(external_id=external_id),
            p_alive=1 - churn / 2,
            churn_risk=churn,
            repurchase_probability_90d=1 - churn,
            expected_purchases_90d=2 * (1 - churn),
            clv_365d=clv,
            cluster=cluster,
            recommendations=recommendations,
            scored_at=now,
            run=run,
        )
    ProfileFactory(external_id="dan")


def selected(rule) -> set[str]:
    return set(
        Profile.objects.filter(compile_rule(rules.parse_rule(rule))).values_list(
            "external_id", flat=True
        )
    )


def test_rules_compare_every_score(scored):
    assert selected({"attr": "churn_risk", "op": "gte", "value": 0.7}) == {"ann", "cat"}
    assert selected({"attr": "clv_365d", "op": "gte", "value": 1000}) == {"ann"}
    assert selected({"attr": "cluster", "op": "eq", "value": "loyal-big-spenders"}) == {
        "ann",
        "cat",
    }
    assert selected({"attr": "p_alive", "op": "lt", "value": 0.6}) == {"ann"}
    assert selected({"attr": "expected_purchases_90d", "op": "between", "value": [0.4, 1]}) == {
        "cat"
    }
    assert selected({"attr": "repurchase_probability_90d", "op": "gt", "value": 0.5}) == {"bob"}
    assert selected({"attr": "scored_at", "op": "within_last_days", "value": 1}) == {
        "ann",
        "bob",
        "cat",
    }
    # A profile without scores has no value: only "is not set" and "not equal" hold for it.
    assert selected({"attr": "churn_risk", "op": "is_not_set"}) == {"dan"}
    assert "dan" in selected({"attr": "cluster", "op": "ne", "value": "new-low-value"})


def test_a_segment_on_churn_risk_leaves_out_those_who_withdrew_profiling(scored):
    ann = Profile.objects.get(external_id="ann")
    consent_record(
        entry=ConsentEntry(
            profile_id=ann.pk,
            channel="email",
            purpose=ConsentPurpose.PROFILING,
            status="withdrawn",
            source="admin",
            reason="asked by phone",
        )
    )
    segment = Segment.objects.create(
        name="At risk", slug="at-risk", rule={"attr": "churn_risk", "op": "gte", "value": 0.7}
    )

    segment_evaluate(segment_id=segment.pk)

    members = set(segment.memberships.values_list("profile__external_id", flat=True))
    assert members == {"cat"}


def test_a_bad_score_value_in_a_rule_names_the_node():
    with pytest.raises(rules.RuleError) as error:
        rules.parse_rule({"all": [{"attr": "churn_risk", "op": "gte", "value": "high"}]})

    assert "all[0]" in str(error.value.path)


def test_templates_may_use_the_scores_and_get_each_profiles_values(scored):
    body = (
        "{% if clv_365d %}Value {{ clv_365d }}, cluster {{ cluster }}: "
        "{{ recommendations|join(', ') }}{% else %}no scores{% endif %}"
    )
    campaign = Campaign.objects.create(name="Recs", slug="recs", channel="email")
    variant = Variant.objects.create(campaign=campaign, key="A", subject="Hi", body_text=body)

    ann = message_render(
        campaign=campaign, variant=variant, profile=Profile.objects.get(external_id="ann")
    )
    dan = message_render(
        campaign=campaign, variant=variant, profile=Profile.objects.get(external_id="dan")
    )

    assert template_check(body) is None
    assert ann.text == "Value 2500.00, cluster loyal-big-spenders: beauty-serum, beauty-toner"
    assert dan.text == "no scores"


def test_the_api_lists_scores_with_filters_and_the_profile_detail_has_them(scored, ops_client):
    everyone = ops_client.get("/api/v1/predictions/").json()
    risky = ops_client.get("/api/v1/predictions/?churn_risk__gte=0.7&clv_365d__gte=1000").json()
    loyal = ops_client.get("/api/v1/predictions/?cluster=loyal-big-spenders").json()
    detail = ops_client.get("/api/v1/profiles/ann/").json()
    nothing = ops_client.get("/api/v1/profiles/dan/").json()
    too_big = ops_client.get("/api/v1/predictions/?page_size=5000")

    assert [row["external_id"] for row in everyone["results"]] == ["ann", "bob", "cat"]
    assert [row["external_id"] for row in risky["results"]] == ["ann"]
    assert {row["external_id"] for row in loyal["results"]} == {"ann", "cat"}
    assert detail["predictions"]["churn_risk"] == 0.9
    assert detail["predictions"]["recommendations"] == ["beauty-serum", "beauty-toner"]
    assert set(detail["predictions"]) >= {"p_alive", "clv_365d", "cluster", "scored_at"}
    assert nothing["predictions"] is None
    assert too_big.status_code == 200  # capped at 1,000 a page, as the contract says


def test_the_api_refuses_a_filter_that_is_not_a_number(scored, ops_client):
    response = ops_client.get("/api/v1/predictions/?churn_risk__gte=high")

    assert response.status_code == 400
    assert "churn_risk__gte" in response.json()


def test_the_api_needs_a_role(scored, client, outsider):
    client.force_login(outsider)

    assert client.get("/api/v1/predictions/").status_code == 403
