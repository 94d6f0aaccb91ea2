"""The rule condition {"stage": "<slug>", "op": "reached"}, made live by the journeys app."""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError

from journeys.conditions import ERROR_UNKNOWN_STAGE
from journeys.models import JourneyStage
from journeys.services import stages_refresh
from profiles.models import ConsentSource, Profile
from profiles.services.consent import ConsentEntry, consent_record
from segments.compiler import compile_rule
from segments.explain import segment_explain
from segments.forms import SegmentForm
from segments.models import Segment
from segments.rules import RuleError, parse_rule
from segments.selectors import segment_rule
from segments.services import segment_evaluate, segment_preview
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory, UserFactory
from tests.journeys.conftest import NOW

pytestmark = pytest.mark.django_db


def selected(rule: dict) -> set[str]:
    tree = parse_rule(rule, resolve=segment_rule)
    return set(
        Profile.objects.filter(compile_rule(tree, now=NOW)).values_list("external_id", flat=True)
    )


def reached(slug: str) -> dict:
    return {"stage": slug, "op": "reached"}


@pytest.fixture
def staged(journey):
    """nobody (no stage), visitor (visit), buyer (buy), loyal (rebuy, having skipped buy)."""
    ProfileFactory(external_id="nobody")
    EventFactory(profile=ProfileFactory(external_id="visitor"), occurred_at=NOW)
    PurchaseFactory(profile=ProfileFactory(external_id="buyer"), occurred_at=NOW)
    loyal = ProfileFactory(external_id="loyal")
    PurchaseFactory(profile=loyal, occurred_at=NOW)
    PurchaseFactory(profile=loyal, occurred_at=NOW)
    stages_refresh(now=NOW + datetime.timedelta(seconds=1))
    return journey


def test_reached_means_at_the_stage_or_beyond_it_even_when_a_stage_was_skipped(staged):
    assert selected(reached("visit")) == {"visitor", "buyer", "loyal"}
    assert selected(reached("buy")) == {"buyer", "loyal"}  # loyal went straight to rebuy
    assert selected(reached("rebuy")) == {"loyal"}


def test_not_reached_is_the_exact_complement(staged):
    assert selected({"not": reached("buy")}) == {"nobody", "visitor"}


def test_reached_follows_the_stage_order_when_it_changes(staged):
    JourneyStage.objects.filter(slug="visit").update(position=99)

    assert selected(reached("visit")) == {"visitor"}
    assert selected(reached("buy")) == {"visitor", "buyer", "loyal"}


def test_a_profile_that_withdrew_profiling_has_reached_no_stage(staged):
    buyer = Profile.objects.get(external_id="buyer")
    consent_record(
        entry=ConsentEntry(
            profile_id=buyer.pk,
            channel="email",
            purpose="profiling",
            status="withdrawn",
            source=ConsentSource.WEB_FORM,
        )
    )

    assert selected(reached("buy")) == {"loyal"}
    assert "buyer" in selected({"not": reached("buy")})


def test_compiling_an_unknown_stage_raises_a_rule_error_naming_the_node(staged):
    tree = parse_rule({"any": [{"attr": "city", "op": "eq", "value": "x"}, reached("ghost")]})

    with pytest.raises(RuleError) as caught:
        compile_rule(tree, now=NOW)

    message = ERROR_UNKNOWN_STAGE.format(slug="ghost", slugs="visit, buy, rebuy")
    assert str(caught.value) == f"any[1].stage: {message}"


def test_an_unknown_stage_is_refused_when_a_segment_is_saved(staged):
    rule = {"all": [{"attr": "city", "op": "eq", "value": "x"}, {"not": reached("ghost")}]}
    form = SegmentForm(data={"name": "G", "slug": "g", "kind": "dynamic", "rule": json.dumps(rule)})

    assert not form.is_valid()
    assert form.errors["rule"][0].startswith("all[1].not.stage: There is no journey stage “ghost”")
    with pytest.raises(RuleError):
        segment_preview(rule=rule)
    with pytest.raises(ValidationError, match=r"all\[1\]\.not\.stage"):
        Segment(name="G", slug="g", rule=rule).full_clean()


def test_the_api_refuses_an_unknown_stage_naming_the_node(staged, client):
    user = UserFactory(username="api-ops", is_superuser=True)
    client.force_login(user)

    response = client.post(
        "/api/v1/segments/",
        {"name": "G", "slug": "g", "kind": "dynamic", "rule": {"all": [reached("ghost")]}},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["rule"][0].startswith("all[0].stage:")


def test_parsing_without_the_stored_segments_stays_pure(django_assert_num_queries):
    with django_assert_num_queries(0):
        parse_rule({"all": [reached("anything"), {"segment": "x"}]}, resolve={"x": {}}.get)


def test_a_segment_on_a_stage_evaluates_like_any_other(staged):
    segment = Segment.objects.create(name="Buyers", slug="buyers", rule=reached("buy"))

    run = segment_evaluate(segment_id=segment.pk, now=NOW)

    assert not run.error
    assert set(segment.memberships.values_list("profile__external_id", flat=True)) == {
        "buyer",
        "loyal",
    }


def test_the_explanation_shows_the_profiles_stage(staged):
    segment = Segment.objects.create(name="Buyers", slug="buyers", rule=reached("buy"))

    node = segment_explain(segment=segment, profile=Profile.objects.get(external_id="loyal"))

    assert (node.met, node.kind, node.actual) == (True, "stage", "rebuy")
    assert node.shown.startswith("stage = rebuy since ")
