"""Stage refresh: set-based moves to the furthest stage met, every move logged, never backwards."""

import datetime
import importlib
import io
import json

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command

from journeys.models import JourneyStage, StageTransition
from journeys.services import (
    DEFAULT_STAGES,
    ERROR_STAGE_IN_STAGE_RULE,
    stage_rule_check,
    stage_save,
    stages_ensure_defaults,
    stages_refresh,
)
from journeys.tasks import stages_refresh_task
from profiles.models import ConsentSource, Profile
from profiles.services.consent import ConsentEntry, consent_record
from profiles.services.merge import profile_merge
from segments.models import Segment
from segments.rules import RuleError
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory
from tests.journeys.conftest import NOW

pytestmark = pytest.mark.django_db


def days_ago(days: float, now: datetime.datetime = NOW) -> datetime.datetime:
    return now - datetime.timedelta(days=days)


def stages_of() -> dict[str, str]:
    return dict(Profile.objects.values_list("external_id", "stage"))


def moves() -> set[tuple]:
    return set(
        StageTransition.objects.values_list("profile__external_id", "from_stage_id", "to_stage_id")
    )


@pytest.fixture
def people(journey):
    """nobody (no events), visitor (a page view), buyer (one purchase), loyal (two purchases)."""
    ProfileFactory(external_id="nobody")
    EventFactory(profile=ProfileFactory(external_id="visitor"), occurred_at=days_ago(5))
    PurchaseFactory(profile=ProfileFactory(external_id="buyer"), occurred_at=days_ago(3))
    loyal = ProfileFactory(external_id="loyal")
    PurchaseFactory(profile=loyal, occurred_at=days_ago(20))
    PurchaseFactory(profile=loyal, occurred_at=days_ago(2))


def test_each_profile_moves_to_the_furthest_stage_it_meets(people):
    figures = stages_refresh(now=NOW)

    assert stages_of() == {"nobody": "", "visitor": "visit", "buyer": "buy", "loyal": "rebuy"}
    assert figures["by_stage"] == {"rebuy": 1, "buy": 1, "visit": 1}
    assert figures["moved"] == 3
    assert figures["errors"] == {}


def test_every_move_is_logged_with_where_from_where_to_and_when(people):
    stages_refresh(now=NOW)

    assert moves() == {("visitor", None, "visit"), ("buyer", None, "buy"), ("loyal", None, "rebuy")}
    assert set(StageTransition.objects.values_list("at", flat=True)) == {NOW}
    assert set(Profile.objects.exclude(stage="").values_list("stage_entered_at", flat=True)) == {
        NOW
    }


def test_a_second_run_on_the_same_data_writes_nothing(people):
    stages_refresh(now=NOW)
    before = list(StageTransition.objects.values_list("pk", flat=True))

    figures = stages_refresh(now=NOW + datetime.timedelta(minutes=10))

    assert figures["moved"] == 0
    assert list(StageTransition.objects.values_list("pk", flat=True)) == before
    assert Profile.objects.get(external_id="buyer").stage_entered_at == NOW


def test_a_profile_moves_forward_from_the_stage_it_was_in(people):
    stages_refresh(now=NOW)
    later = NOW + datetime.timedelta(days=1)
    PurchaseFactory(profile=Profile.objects.get(external_id="visitor"), occurred_at=later)

    stages_refresh(now=later)

    visitor = Profile.objects.get(external_id="visitor")
    assert (visitor.stage, visitor.stage_entered_at) == ("buy", later)
    assert ("visitor", "visit", "buy") in moves()


def test_stages_are_sticky_a_profile_never_moves_back(journey, people):
    stages_refresh(now=NOW)
    JourneyStage.objects.filter(slug="rebuy").update(
        rule={**journey["rebuy"].rule, "within_days": 7}
    )

    figures = stages_refresh(now=NOW + datetime.timedelta(days=30))  # the purchases aged out

    assert figures["moved"] == 0
    assert stages_of()["loyal"] == "rebuy"


def test_an_inactive_stage_takes_in_nobody(journey, people):
    JourneyStage.objects.filter(slug="rebuy").update(active=False)

    stages_refresh(now=NOW)

    assert stages_of()["loyal"] == "buy"  # the furthest active stage it meets


def test_the_refresh_is_set_based_its_queries_do_not_grow_with_profiles(
    journey, django_assert_max_num_queries
):
    for i in range(3):
        PurchaseFactory(profile=ProfileFactory(external_id=f"few-{i}"), occurred_at=days_ago(1))
    with django_assert_max_num_queries(40) as few:
        stages_refresh(now=NOW)
    for i in range(30):
        PurchaseFactory(profile=ProfileFactory(external_id=f"many-{i}"), occurred_at=days_ago(1))

    with django_assert_max_num_queries(40) as many:
        figures = stages_refresh(now=NOW + datetime.timedelta(minutes=1))

    assert figures["moved"] == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_profiles_that_withdrew_profiling_do_not_move(people):
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

    stages_refresh(now=NOW)

    assert stages_of()["buyer"] == ""


def test_a_stage_whose_rule_no_longer_parses_is_skipped_and_reported(journey, people):
    Segment.objects.create(name="VIP", slug="vip", rule={"attr": "city", "op": "eq", "value": "x"})
    stage_save(stage=journey["rebuy"], data={"rule": {"segment": "vip"}})
    Segment.objects.filter(slug="vip").delete()

    figures = stages_refresh(now=NOW)

    assert "rebuy" in figures["errors"]
    assert "vip" in figures["errors"]["rebuy"]
    assert stages_of()["loyal"] == "buy"


def test_the_command_and_the_task_run_the_refresh(people):
    out = io.StringIO()

    call_command("refresh_stages", stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["moved"] == 3
    assert stages_refresh_task.delay().get()["moved"] == 0


def test_beat_refreshes_the_stages_every_ten_minutes():
    entries = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}

    assert entries["journeys.tasks.stages_refresh_task"] == 600.0


def test_a_merge_moves_the_history_and_keeps_the_further_stage(people):
    stages_refresh(now=NOW)
    visitor = Profile.objects.get(external_id="visitor")
    loyal = Profile.objects.get(external_id="loyal")

    profile_merge(source=loyal, target=visitor)

    visitor.refresh_from_db()
    assert (visitor.stage, visitor.stage_entered_at) == ("rebuy", NOW)
    assert set(visitor.stage_transitions.values_list("to_stage_id", flat=True)) == {
        "visit",
        "rebuy",
    }


# Configuration ----------------------------------------------------------------------------------


def test_the_default_journey_is_the_product_one(db):
    StageTransition.objects.all().delete()
    JourneyStage.objects.all().delete()

    created = stages_ensure_defaults()

    assert created == 6
    assert list(JourneyStage.objects.values_list("slug", flat=True)) == [
        "reach",
        "first-purchase",
        "active-use",
        "feedback",
        "repurchase",
        "referral",
    ]
    for stage in JourneyStage.objects.all():
        stage_rule_check(stage.rule)  # each default rule is valid
    assert stages_ensure_defaults() == 0


def test_the_data_migration_seeds_the_same_defaults():
    migration = importlib.import_module("journeys.migrations.0002_default_stages")

    seeded = [(slug, name, rule) for slug, name, rule in migration.STAGES]

    assert seeded == [(s["slug"], s["name"], s["rule"]) for s in DEFAULT_STAGES]


def test_an_entry_rule_cannot_use_stage_conditions(journey):
    rule = {"all": [count := {"event": "purchase", "within_days": 9, "count": {"gte": 1}},
                    {"not": {"stage": "visit", "op": "reached"}}]}  # fmt: skip

    with pytest.raises(RuleError) as caught:
        stage_rule_check(rule)

    assert str(caught.value) == f"all[1].not: {ERROR_STAGE_IN_STAGE_RULE}"
    assert count


def test_an_invalid_entry_rule_is_refused_naming_the_node(journey):
    with pytest.raises(ValidationError) as caught:
        stage_save(stage=journey["buy"], data={"rule": {"all": [{"event": "purchase"}]}})

    assert "all[0]" in caught.value.message_dict["rule"][0]


def test_moving_a_stage_onto_another_ones_position_swaps_them(journey):
    stage_save(stage=journey["rebuy"], data={"position": 10})

    positions = dict(JourneyStage.objects.values_list("slug", "position"))
    assert positions == {"rebuy": 10, "visit": 30, "buy": 20}


def test_a_new_stage_cannot_take_a_position_in_use(journey):
    with pytest.raises(ValidationError) as caught:
        stage_save(
            data={"slug": "x", "name": "X", "position": 20, "rule": {"tag": "v", "op": "has"}}
        )

    assert "position" in caught.value.message_dict
