"""The rule condition {"message": "opened" | "clicked" | "received", …}, made live by campaigns.

Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://…): the answers must be the same.
"""

import datetime
import json

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.conditions import (
    CAMPAIGN_SLUG_LENGTH,
    ERROR_CAMPAIGN_SLUG,
    ERROR_UNKNOWN_CAMPAIGN,
    ERROR_UNKNOWN_MESSAGE,
    EngagementCondition,
)
from campaigns.models import Campaign, Send, TrackingEvent
from profiles.models import ConsentSource, Profile
from profiles.services.consent import ConsentEntry, consent_record
from segments.compiler import PLANS, compile_rule, plan_choose, rule_candidates
from segments.conditions import condition_kinds
from segments.explain import segment_explain
from segments.forms import SegmentForm
from segments.models import Segment
from segments.rules import (
    ERROR_EXPECTED_DAYS,
    ERROR_MISSING_KEY,
    ERROR_UNKNOWN_KEY,
    MAX_DAYS,
    RuleError,
    parse_rule,
    rule_to_json,
)
from segments.selectors import segment_rule
from segments.services import segment_evaluate, segment_preview, segments_evaluate_many
from tests.factories import ProfileFactory, PurchaseFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2025, 6, 30, 12, 0, tzinfo=datetime.UTC)
EVERYONE = {"opener", "clicker", "old", "autumn", "failed", "nobody", "later"}


def ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def message(kind: str, days: int = 7, campaign: str | None = "spring") -> dict:
    rule = {"message": kind}
    if campaign:
        rule["campaign"] = campaign
    return {**rule, "within_days": days}


def sent(campaign, who: str, at, *tracking, status=Send.Status.SENT) -> Send:
    send = Send.objects.create(
        campaign=campaign, profile=ProfileFactory(external_id=who), status=status, sent_at=at
    )
    for kind, when in tracking:
        TrackingEvent.objects.create(send=send, kind=kind, at=when)
    return send


@pytest.fixture
def engaged(db):
    """Who got what (days before NOW):

    | who     | campaign | sent | tracking                               |
    |---------|----------|------|----------------------------------------|
    | opener  | spring   | 3    | open 2                                 |
    | clicker | spring   | 3    | open 2, click 2, open 1                |
    | old     | spring   | 40   | open 40, click 39                      |
    | autumn  | autumn   | 1    | delivered 1                            |
    | failed  | spring   | -    | - (status failed)                      |
    | later   | spring   | -1   | open -1 (after NOW: not yet)           |
    | nobody  | -        | -    | -                                      |
    """
    spring = Campaign.objects.create(name="春季促销", slug="spring", channel="email")
    autumn = Campaign.objects.create(name="秋季", slug="autumn", channel="email")
    sent(spring, "opener", ago(3), ("open", ago(2)))
    sent(spring, "clicker", ago(3), ("open", ago(2)), ("click", ago(2)), ("open", ago(1)))
    sent(spring, "old", ago(40), ("open", ago(40)), ("click", ago(39)))
    sent(autumn, "autumn", ago(1), ("delivered", ago(1)))
    sent(spring, "failed", None, status=Send.Status.FAILED)
    sent(spring, "later", ago(-1), ("open", ago(-1)))
    ProfileFactory(external_id="nobody")
    return {"spring": spring, "autumn": autumn}


CASES = [
    (message("opened"), {"opener", "clicker"}),
    (message("clicked"), {"clicker"}),
    (message("received"), {"opener", "clicker"}),
    (message("opened", 40), {"opener", "clicker", "old"}),  # both ends of the window count
    (message("clicked", 39), {"clicker", "old"}),
    (message("received", 40), {"opener", "clicker", "old"}),
    (message("received", campaign=None), {"opener", "clicker", "autumn"}),
    (message("opened", campaign=None), {"opener", "clicker"}),
    (message("received", campaign="autumn"), {"autumn"}),
    (message("opened", campaign="autumn"), set()),  # delivered is not opened
    (message("clicked", 1), set()),
    (message("opened", 1), {"clicker"}),
    (message("opened", MAX_DAYS, campaign="no-such-campaign"), set()),  # without the stored ones
]


def members(rule, plan: str = "grouped") -> set[str]:
    condition = compile_rule(parse_rule(rule), now=NOW, plan=plan)
    return set(Profile.objects.filter(condition).values_list("external_id", flat=True))


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_each_engagement_selects_the_hand_checked_profiles(engaged, rule, expected, plan):
    assert members(rule, plan) == expected


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_not_of_each_engagement_selects_exactly_the_others(engaged, rule, expected, plan):
    assert members({"not": rule}, plan) == EVERYONE - expected


def test_it_combines_with_events_and_attributes_in_both_plans(engaged):
    clicker = Profile.objects.get(external_id="clicker")
    PurchaseFactory(profile=clicker, occurred_at=ago(1))
    PurchaseFactory(profile=clicker, occurred_at=ago(1))
    PurchaseFactory(profile=Profile.objects.get(external_id="opener"), occurred_at=ago(1))
    rule = {
        "all": [
            message("opened"),
            {"event": "purchase", "within_days": 7, "count": {"gte": 2}},
        ]
    }

    assert {plan: members(rule, plan) for plan in PLANS} == {plan: {"clicker"} for plan in PLANS}


def test_the_condition_kind_is_registered_by_the_campaigns_app():
    kind = condition_kinds()["message"]

    assert kind.node_type is EngagementCondition
    assert kind.profile_columns(parse_rule(message("opened"))) == set()


def test_the_condition_round_trips_and_campaign_is_optional():
    for rule in (message("opened"), message("received", 30, campaign=None)):
        tree = parse_rule(rule)

        assert rule_to_json(tree) == rule
        assert parse_rule(rule_to_json(tree)) == tree
    assert parse_rule(message("clicked", campaign=None)) == EngagementCondition("clicked", 7)


REFUSALS = [
    (
        {"message": "bounced", "within_days": 7},
        "message",
        ERROR_UNKNOWN_MESSAGE.format(op="bounced", ops="opened, clicked, received"),
    ),
    (
        {"message": ["opened"], "within_days": 7},
        "message",
        ERROR_UNKNOWN_MESSAGE.format(op="…", ops="opened, clicked, received"),
    ),
    ({"message": "opened"}, "rule", ERROR_MISSING_KEY.format(key="within_days")),
    (message("opened", 0), "within_days", ERROR_EXPECTED_DAYS.format(limit=MAX_DAYS)),
    (
        {"message": "opened", "within_days": "7"},
        "within_days",
        ERROR_EXPECTED_DAYS.format(limit=MAX_DAYS),
    ),
    (
        message("opened", campaign="spring sale"),
        "campaign",
        ERROR_CAMPAIGN_SLUG.format(limit=CAMPAIGN_SLUG_LENGTH),
    ),
    (
        message("opened", campaign="春季"),
        "campaign",
        ERROR_CAMPAIGN_SLUG.format(limit=CAMPAIGN_SLUG_LENGTH),
    ),
    (
        message("opened", campaign="x" * (CAMPAIGN_SLUG_LENGTH + 1)),
        "campaign",
        ERROR_CAMPAIGN_SLUG.format(limit=CAMPAIGN_SLUG_LENGTH),
    ),
    (
        {**message("opened"), "step": "welcome"},
        "rule",
        ERROR_UNKNOWN_KEY.format(key="step", allowed="message, within_days, campaign"),
    ),
    (
        {
            "any": [
                {"tag": "vip", "op": "has"},
                {"not": {"message": "clicked", "campaign": "", "within_days": 7}},
            ]
        },
        "any[1].not.campaign",
        ERROR_CAMPAIGN_SLUG.format(limit=CAMPAIGN_SLUG_LENGTH),
    ),
]


@pytest.mark.parametrize(("rule", "path", "text"), REFUSALS)
def test_a_bad_condition_is_refused_naming_the_node(rule, path, text):
    with pytest.raises(RuleError) as caught:
        parse_rule(rule)

    assert (caught.value.path, caught.value.message) == (path, str(text))


def test_parsing_without_the_stored_segments_stays_pure(django_assert_num_queries):
    with django_assert_num_queries(0):
        parse_rule(message("opened", campaign="anything"))


def test_an_unknown_campaign_is_refused_naming_the_node_wherever_a_rule_is_saved(engaged):
    rule = {
        "all": [
            {"attr": "city", "op": "eq", "value": "x"},
            {"not": message("opened", campaign="ghost")},
        ]
    }
    error = f"all[1].not.campaign: {ERROR_UNKNOWN_CAMPAIGN.format(slug='ghost')}"
    form = SegmentForm(data={"name": "G", "slug": "g", "kind": "dynamic", "rule": json.dumps(rule)})

    assert not form.is_valid()
    assert form.errors["rule"] == [error]
    with pytest.raises(RuleError, match=r"all\[1\]\.not\.campaign"):
        segment_preview(rule=rule)
    with pytest.raises(ValidationError, match=r"all\[1\]\.not\.campaign"):
        Segment(name="G", slug="g", rule=rule).full_clean()
    parse_rule(message("opened", campaign="autumn"), resolve=segment_rule)  # a known one


def test_the_api_refuses_an_unknown_campaign_and_previews_a_known_one(engaged):
    client = APIClient()
    client.force_login(UserFactory(username="api-ops", is_superuser=True))
    Send.objects.filter(profile__external_id="opener").update(sent_at=timezone.now())

    refused = client.post(
        "/api/v1/segments/preview/", {"rule": message("received", campaign="ghost")}, format="json"
    )
    created = client.post(
        "/api/v1/segments/",
        {
            "name": "G",
            "slug": "g",
            "kind": "dynamic",
            "rule": {"all": [message("opened", campaign="ghost")]},
        },
        format="json",
    )
    preview = client.post("/api/v1/segments/preview/", {"rule": message("received")}, format="json")

    assert refused.status_code == 400
    assert refused.json()["rule"] == [f"campaign: {ERROR_UNKNOWN_CAMPAIGN.format(slug='ghost')}"]
    assert created.status_code == 400
    assert created.json()["rule"][0].startswith("all[0].campaign: ")
    assert preview.status_code == 200
    assert preview.json()["sample"] == ["opener"]


def test_a_segment_evaluates_in_either_plan_and_fails_once_its_campaign_is_gone(engaged, settings):
    segment = Segment.objects.create(name="Clicked", slug="clicked", rule=message("clicked", 40))

    for plan in PLANS:
        settings.SEGMENT_PLAN = plan
        run = segment_evaluate(segment_id=segment.pk, now=NOW)
        assert not run.error
        assert set(segment.memberships.values_list("profile__external_id", flat=True)) == {
            "clicker",
            "old",
        }
    engaged["spring"].delete()
    run = segment_evaluate(segment_id=segment.pk, now=NOW)

    assert run.error == f"campaign: {ERROR_UNKNOWN_CAMPAIGN.format(slug='spring')}"
    assert segment.memberships.count() == 2  # the last good membership stays


@override_settings(SEGMENT_PLAN="correlated")
def test_with_event_counts_the_engaged_are_the_candidates_of_a_correlated_plan(engaged):
    rule = {
        "all": [
            message("opened", 40),
            {"event": "purchase", "within_days": 30, "count": {"eq": 0}},
            {"event": "purchase", "within_days": 30, "sum": "amount", "value": {"lt": 100}},
        ]
    }
    segment = Segment.objects.create(name="Idle openers", slug="idle-openers", rule=rule)
    PurchaseFactory(profile=Profile.objects.get(external_id="old"), occurred_at=ago(1), amount=500)

    candidates = Profile.objects.filter(rule_candidates(parse_rule(rule), now=NOW))
    run = segment_evaluate(segment_id=segment.pk, now=NOW)

    assert set(candidates.values_list("external_id", flat=True)) == {"opener", "clicker", "old"}
    assert not run.error
    assert set(segment.memberships.values_list("profile__external_id", flat=True)) == {
        "opener",
        "clicker",
    }


def test_the_planner_weighs_the_engaged_as_candidates(engaged):
    rule = {
        "all": [
            message("clicked", 40),
            {"event": "purchase", "within_days": 30, "count": {"gte": 2}},
        ]
    }

    choice = plan_choose(parse_rule(rule), now=NOW, plan="auto")

    assert choice.candidates is not None and choice.candidates < choice.profiles


def test_segments_refreshed_together_read_the_engagement_of_each(engaged):
    opened = Segment.objects.create(
        name="o",
        slug="o",
        rule={
            "all": [message("opened"), {"event": "purchase", "within_days": 30, "count": {"eq": 0}}]
        },
    )
    received = Segment.objects.create(
        name="r",
        slug="r",
        rule={
            "all": [
                message("received", campaign=None),
                {"event": "purchase", "within_days": 30, "count": {"lt": 5}},
            ]
        },
    )

    runs = segments_evaluate_many(segment_ids=[opened.pk, received.pk], now=NOW)

    assert [run.error for run in runs] == ["", ""]
    assert set(opened.memberships.values_list("profile__external_id", flat=True)) == {
        "opener",
        "clicker",
    }
    assert set(received.memberships.values_list("profile__external_id", flat=True)) == {
        "opener",
        "clicker",
        "autumn",
    }


def test_a_profile_that_withdrew_profiling_has_opened_nothing_but_was_sent_messages(engaged):
    clicker = Profile.objects.get(external_id="clicker")
    consent_record(
        entry=ConsentEntry(
            profile_id=clicker.pk,
            channel="email",
            purpose="profiling",
            status="withdrawn",
            source=ConsentSource.WEB_FORM,
        )
    )

    assert members(message("opened")) == {"opener"}
    assert members(message("received")) == {"opener", "clicker"}


def test_the_explanation_counts_the_engagement_in_the_window(engaged):
    segment = Segment.objects.create(name="Openers", slug="openers", rule=message("opened"))

    clicker = segment_explain(
        segment=segment, profile=Profile.objects.get(external_id="clicker"), now=NOW
    )
    nobody = segment_explain(
        segment=segment, profile=Profile.objects.get(external_id="old"), now=NOW
    )

    assert (clicker.met, clicker.kind, clicker.actual) == (True, "message", 2)
    assert clicker.shown.startswith("opened: 2 in campaign “spring” from ")
    assert ", the last at " in clicker.shown
    assert (nobody.met, nobody.kind, nobody.actual) == (False, "message", 0)
    assert nobody.shown.startswith("opened: none in campaign “spring” from ")
