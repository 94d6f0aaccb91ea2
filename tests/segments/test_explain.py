"""Why a profile is (not) in a segment: each condition's answer, its path and the actual value."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from profiles.models import ConsentSource, Profile
from profiles.services.consent import ConsentEntry, consent_record
from segments.compiler import compile_rule
from segments.conditions import condition_kinds, condition_register
from segments.explain import segment_explain, segment_explanation
from segments.models import Segment
from segments.rules import RuleError, parse_rule
from segments.selectors import segment_rule
from segments.services import segment_evaluate
from tests.factories import ProfileFactory, ProfileTagFactory, PurchaseFactory, TagFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2024, 6, 30, 12, 0, tzinfo=datetime.UTC)

RULE = {
    "all": [
        {"attr": "city", "op": "eq", "value": "上海"},
        {
            "any": [
                {"tag": "vip", "op": "has"},
                {"event": "purchase", "within_days": 30, "count": {"gte": 2}},
            ]
        },
        {"not": {"attr": "traits.tier", "op": "eq", "value": "gold"}},
        {"event": "purchase", "within_days": 30, "sum": "amount", "value": {"gte": 150}},
    ]
}


def by_path(tree) -> dict:
    nodes, stack = {}, [tree]
    while stack:
        node = stack.pop()
        nodes[node.path] = node
        stack.extend(node.children)
    return nodes


def days_ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="上海回头客", slug="shanghai-repeat", rule=RULE)


@pytest.fixture
def member(db):
    profile = ProfileFactory(external_id="member", city="上海", traits={"tier": "silver"})
    PurchaseFactory(profile=profile, occurred_at=days_ago(1), amount=Decimal("100.005"))
    PurchaseFactory(profile=profile, occurred_at=days_ago(29.9), amount=Decimal("50.00"))
    PurchaseFactory(profile=profile, occurred_at=days_ago(31), amount=Decimal("999.00"))  # outside
    PurchaseFactory(profile=profile, occurred_at=NOW + datetime.timedelta(hours=1))  # later
    tag = TagFactory(slug="vip")
    ProfileTagFactory(profile=profile, tag=tag, expires_at=days_ago(2))  # expired
    return profile


@pytest.fixture
def outsider_profile(db):
    profile = ProfileFactory(external_id="other", city="北京", traits={"tier": "gold"})
    PurchaseFactory(profile=profile, occurred_at=days_ago(3), amount=Decimal("80.00"))
    return profile


def test_a_member_meets_every_condition_and_the_values_are_shown(segment, member):
    segment_evaluate(segment_id=segment.pk, now=NOW)

    explanation = segment_explanation(segment=segment, profile=member, now=NOW)

    nodes = by_path(explanation.tree)
    assert explanation.matches is True
    assert explanation.is_member is True
    assert explanation.differs is False
    assert nodes["rule"].kind == "all"
    assert (nodes["all[0]"].met, nodes["all[0]"].actual) == (True, "上海")
    assert nodes["all[1]"].met is True
    assert nodes["all[1].any[0]"].met is False  # the tag has expired
    assert nodes["all[1].any[0]"].actual == {"carries": False, "expires_at": days_ago(2)}
    assert "expired" in nodes["all[1].any[0]"].shown
    assert (nodes["all[1].any[1]"].met, nodes["all[1].any[1]"].actual) == (True, 2)
    assert nodes["all[2]"].met is True
    assert (nodes["all[2].not"].met, nodes["all[2].not"].actual) == (False, "silver")
    assert nodes["all[3]"].met is True
    assert nodes["all[3]"].actual == Decimal("150.01")  # in the window only, rounded to cents


def test_a_non_member_sees_which_conditions_fail_with_their_values(
    segment, member, outsider_profile
):
    segment_evaluate(segment_id=segment.pk, now=NOW)

    explanation = segment_explanation(segment=segment, profile=outsider_profile, now=NOW)

    nodes = by_path(explanation.tree)
    assert (explanation.matches, explanation.is_member, explanation.differs) == (
        False,
        False,
        False,
    )
    failing = {path for path, node in nodes.items() if node.met is False}
    assert failing == {
        "rule",
        "all[0]",
        "all[1]",
        "all[1].any[0]",
        "all[1].any[1]",
        "all[2]",
        "all[3]",
    }
    assert nodes["all[0]"].actual == "北京"
    assert nodes["all[1].any[0]"].actual == {"carries": False, "expires_at": None}
    assert nodes["all[1].any[1]"].actual == 1
    assert (nodes["all[2].not"].met, nodes["all[2].not"].actual) == (True, "gold")
    assert nodes["all[3]"].actual == Decimal("80.00")


def test_the_answer_is_the_compilers_for_the_whole_rule(segment, member, outsider_profile):
    tree = parse_rule(RULE, resolve=segment_rule)
    for profile in (member, outsider_profile):
        compiled = Profile.objects.filter(pk=profile.pk).filter(compile_rule(tree, now=NOW))

        assert segment_explain(segment=segment, profile=profile, now=NOW).met == compiled.exists()


def test_a_stored_membership_that_differs_from_the_rule_now_is_flagged(segment, member):
    segment_evaluate(segment_id=segment.pk, now=NOW)
    Profile.objects.filter(pk=member.pk).update(city="北京")

    explanation = segment_explanation(segment=segment, profile=member, now=NOW)

    assert (explanation.matches, explanation.is_member, explanation.differs) == (False, True, True)


@pytest.fixture
def welcome_stage(db):
    """A journey stage "welcome" (stage conditions are plugged in by the journeys app)."""
    from journeys.models import JourneyStage

    return JourneyStage.objects.create(slug="welcome", name="Welcome", position=900, rule={})


def test_references_traits_and_stages(segment, member, welcome_stage):
    segment_evaluate(segment_id=segment.pk, now=NOW)
    other = Segment.objects.create(
        name="x",
        slug="explained",
        rule={
            "any": [
                {"stage": "welcome", "op": "reached"},
                {"segment": "shanghai-repeat"},
                {"attr": "traits.missing", "op": "is_not_set"},
            ]
        },
    )

    nodes = by_path(segment_explain(segment=other, profile=member, now=NOW))

    assert (nodes["any[0]"].met, nodes["any[0]"].actual) == (False, None)
    assert nodes["any[0]"].shown == "no journey stage yet"
    assert (nodes["any[1]"].met, nodes["any[1]"].actual) == (True, True)
    assert (nodes["any[2]"].met, nodes["any[2]"].actual) == (True, None)
    assert nodes["rule"].met is True  # one condition met is enough for "any"


def test_a_consent_condition_shows_the_current_consent(member):
    segment = Segment.objects.create(
        name="z", slug="mailable", rule={"consent": "email", "op": "granted"}
    )
    consent_record(
        entry=ConsentEntry(
            profile_id=member.pk,
            channel="email",
            purpose="marketing",
            status="withdrawn",
            source=ConsentSource.UNSUBSCRIBE,
        )
    )

    node = by_path(segment_explain(segment=segment, profile=member, now=NOW))["rule"]

    assert (node.met, node.actual) == (False, "withdrawn")
    assert "Withdrawn" in node.shown


def test_a_condition_that_cannot_run_leaves_an_all_group_undecided(member, welcome_stage, registry):
    def refuse(node, path, env):
        raise RuleError(path, "cannot run now")

    stage = condition_kinds()["stage"]
    condition_register(
        "stage", node_type=stage.node_type, parser=stage.parser, compiler=refuse,
        explainer=stage.explainer,
    )  # fmt: skip
    segment = Segment.objects.create(
        name="y",
        slug="undecided",
        rule={
            "all": [
                {"stage": "welcome", "op": "reached"},
                {"attr": "city", "op": "eq", "value": "上海"},
            ]
        },
    )

    explanation = segment_explanation(segment=segment, profile=member, now=NOW)

    assert explanation.matches is None
    assert explanation.differs is False


def test_a_static_list_has_no_rule_to_explain(member):
    segment = Segment.objects.create(name="z", slug="by-hand", kind=Segment.Kind.STATIC)

    explanation = segment_explanation(segment=segment, profile=member, now=NOW)

    assert explanation.tree is None
    assert explanation.error


# The page ---------------------------------------------------------------------------------------


def test_the_page_shows_the_tree_with_paths_marks_and_values(ops_client, segment, member):
    segment_evaluate(segment_id=segment.pk, now=timezone.now())
    ProfileFactory(external_id="plain", city="北京")

    response = ops_client.get("/segments/shanghai-repeat/why/", {"external_id": "plain"})

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-path="all[1].any[1]"' in page
    assert "city = 北京" in page
    assert "✗" in page
    assert 'data-testid="differs"' not in page
    start = page.index('data-testid="tree"')
    tree = page[start : page.index("</section>", start)]
    assert tree.count("<ul") + 1 == tree.count("</ul>")  # the first <ul is before the slice
    assert tree.count("<li") == tree.count("</li>") == 8


def test_the_page_for_a_member(ops_client, segment):
    ProfileFactory(external_id="m", city="上海", traits={"tier": "silver"})
    for _ in range(2):
        PurchaseFactory(profile=Profile.objects.get(external_id="m"), amount=Decimal("100.00"))
    segment_evaluate(segment_id=segment.pk)

    page = ops_client.get("/segments/shanghai-repeat/why/?external_id=m").content.decode()

    assert "✓ " in page
    assert "selects this profile" in page
    assert "a member since" in page


def test_an_unknown_external_id_gets_a_clear_message(ops_client, segment):
    response = ops_client.get("/segments/shanghai-repeat/why/", {"external_id": "nobody"})

    assert response.status_code == 404
    assert "No profile has the external ID “nobody”." in response.content.decode()


def test_an_unknown_segment_is_not_found(ops_client):
    assert ops_client.get("/segments/nothing/why/?external_id=a").status_code == 404


def test_every_role_can_read_the_page_but_not_an_outsider(
    client, segment, campaign_manager, outsider
):
    client.force_login(campaign_manager)
    assert client.get("/segments/shanghai-repeat/why/").status_code == 200
    client.force_login(outsider)
    assert client.get("/segments/shanghai-repeat/why/").status_code == 403


def test_the_segment_page_links_to_the_explanation(ops_client, segment):
    page = ops_client.get("/segments/shanghai-repeat/").content.decode()

    assert 'action="/segments/shanghai-repeat/why/"' in page
    assert 'name="external_id"' in page


def test_a_profile_that_withdrew_profiling_is_named_as_excluded_for_that_reason(
    ops_client, segment
):
    member = ProfileFactory(external_id="m", city="上海", traits={"tier": "silver"})
    for _ in range(2):
        PurchaseFactory(profile=member, amount=Decimal("100.00"))
    consent_record(
        entry=ConsentEntry(
            profile_id=member.pk,
            channel="email",
            purpose="profiling",
            status="withdrawn",
            source=ConsentSource.WEB_FORM,
        )
    )
    segment_evaluate(segment_id=segment.pk)

    explanation = segment_explanation(segment=segment, profile=member)
    page = ops_client.get("/segments/shanghai-repeat/why/?external_id=m").content.decode()

    assert explanation.tree.met is True  # every condition holds …
    assert (explanation.matches, explanation.is_member, explanation.differs) == (
        False,
        False,
        False,
    )
    assert 'data-testid="profiling-refused"' in page  # … but the reason it is left out is named
    assert "withdrew personalised profiling" in page
    assert "selects this profile" not in page
    assert 'data-testid="differs"' not in page


def test_withdrawn_profiling_does_not_exclude_from_a_rule_on_attributes_only(ops_client):
    Segment.objects.create(
        name="Shanghai", slug="sh", rule={"attr": "city", "op": "eq", "value": "上海"}
    )
    member = ProfileFactory(external_id="m", city="上海")
    consent_record(
        entry=ConsentEntry(
            profile_id=member.pk,
            channel="email",
            purpose="profiling",
            status="withdrawn",
            source=ConsentSource.WEB_FORM,
        )
    )

    explanation = segment_explanation(segment=Segment.objects.get(slug="sh"), profile=member)

    assert (explanation.matches, explanation.profiling_refused) == (True, False)


def test_a_moment_in_an_explanation_reads_like_every_other_date(segment, member, settings):
    settings.TIME_ZONE = "Asia/Shanghai"

    explanation = segment_explanation(segment=segment, profile=member, now=NOW)

    assert "2024-06-28 20:00" in by_path(explanation.tree)["all[1].any[0]"].shown  # 12:00 UTC
