"""Evaluation: versioned membership, only the difference written, failures keep the last result."""

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.errors import error_code, error_text
from profiles.services.merge import profile_merge
from segments.compiler import common_conditions
from segments.models import Segment, SegmentMembership, SegmentRun, SegmentTransition
from segments.rules import parse_rule
from segments.services import (
    ERROR_WORKER_DIED,
    segment_evaluate,
    segments_evaluate_many,
    segments_refresh_due,
)
from tests.factories import EventFactory, ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SHANGHAI = {"all": [{"attr": "city", "op": "eq", "value": "上海"}]}


def members(segment) -> set[str]:
    return set(
        SegmentMembership.objects.filter(segment=segment).values_list(
            "profile__external_id", flat=True
        )
    )


def evaluated_together_and_alone(rules, *, now) -> list[set[str]]:
    """Evaluate ``rules`` as segments refreshed together and as copies evaluated one by one.

    Assert that both ways succeed with the same members; return the members of each rule.
    """
    together = [
        Segment.objects.create(name=f"t{i}", slug=f"t{i}", rule=r) for i, r in enumerate(rules)
    ]
    alone = [
        Segment.objects.create(name=f"a{i}", slug=f"a{i}", rule=r) for i, r in enumerate(rules)
    ]

    runs = segments_evaluate_many(segment_ids=[s.pk for s in together], now=now)
    for one in alone:
        segment_evaluate(segment_id=one.pk, now=now)

    assert all(run is not None and not run.error for run in runs)
    found = [members(s) for s in together]
    assert found == [members(s) for s in alone]
    return found


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="上海用户", slug="shanghai", rule=SHANGHAI)


def test_a_first_evaluation_stores_the_members_and_records_the_run(segment):
    ProfileFactory(external_id="a", city="上海")
    ProfileFactory(external_id="b", city="北京")

    run = segment_evaluate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert members(segment) == {"a"}
    assert (run.size, run.entered, run.exited, run.version) == (1, 1, 0, 1)
    assert segment.status == Segment.Status.READY
    assert (segment.version, segment.size) == (1, 1)
    assert segment.last_duration_ms is not None


def test_a_later_evaluation_writes_only_who_entered_and_who_left(segment):
    stays = ProfileFactory(external_id="stays", city="上海")
    leaves = ProfileFactory(external_id="leaves", city="上海")
    segment_evaluate(segment_id=segment.pk)
    first_since = SegmentMembership.objects.get(profile=stays).since
    leaves.city = "北京"
    leaves.save()
    ProfileFactory(external_id="arrives", city="上海")

    run = segment_evaluate(segment_id=segment.pk)

    assert members(segment) == {"stays", "arrives"}
    assert (run.entered, run.exited, run.size, run.version) == (1, 1, 2, 2)
    assert SegmentMembership.objects.get(profile=stays).since == first_since  # untouched
    changes = set(
        SegmentTransition.objects.filter(version=2).values_list("profile__external_id", "entered")
    )
    assert changes == {("arrives", True), ("leaves", False)}


def test_an_unchanged_result_writes_nothing_but_the_run(segment):
    ProfileFactory(city="上海")
    segment_evaluate(segment_id=segment.pk)

    run = segment_evaluate(segment_id=segment.pk)

    assert (run.entered, run.exited, run.size) == (0, 0, 1)
    assert SegmentTransition.objects.count() == 1


def test_a_failed_run_keeps_the_last_good_membership_and_shows_the_error(segment):
    ProfileFactory(external_id="a", city="上海")
    segment_evaluate(segment_id=segment.pk)
    Segment.objects.create(name="gone", slug="gone", kind=Segment.Kind.STATIC)
    Segment.objects.filter(pk=segment.pk).update(rule={"all": [{"segment": "gone"}]})
    Segment.objects.filter(slug="gone").delete()  # the rule now names no segment: the run fails

    run = segment_evaluate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert run.error
    assert segment.status == Segment.Status.FAILED
    assert segment.error == run.error
    assert segment.version == 1
    assert members(segment) == {"a"}


def test_a_segment_being_evaluated_is_not_claimed_twice(segment):
    Segment.objects.filter(pk=segment.pk).update(status=Segment.Status.EVALUATING)

    assert segment_evaluate(segment_id=segment.pk) is None
    assert not SegmentRun.objects.exists()


def test_a_segment_can_build_on_another_segment(segment):
    ProfileFactory(external_id="a", city="上海", value_tier="high")
    ProfileFactory(external_id="b", city="上海", value_tier="mass")
    segment_evaluate(segment_id=segment.pk)
    rule = {"all": [{"segment": "shanghai"}, {"attr": "value_tier", "op": "eq", "value": "high"}]}
    vip = Segment.objects.create(name="上海高价值", slug="shanghai-high", rule=rule)

    segment_evaluate(segment_id=vip.pk)

    assert members(vip) == {"a"}


def test_the_command_prints_the_figures(segment):
    ProfileFactory(city="上海")
    out = io.StringIO()

    call_command("evaluate_segment", "shanghai", stdout=out)

    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["size"] == 1
    assert figures["entered"] == 1
    assert "size 1, entered 1, exited 0" in out.getvalue()


def test_the_command_names_an_unknown_slug():
    with pytest.raises(CommandError, match="No segment has the slug 'nope'"):
        call_command("evaluate_segment", "nope")


def test_the_beat_tick_evaluates_due_segments_after_those_they_build_on(
    segment, django_capture_on_commit_callbacks
):
    ProfileFactory(external_id="a", city="上海", value_tier="high")
    rule = {"all": [{"segment": "shanghai"}, {"attr": "value_tier", "op": "eq", "value": "high"}]}
    # Created first, so only dependency order can put it after "shanghai".
    Segment.objects.filter(pk=segment.pk).delete()
    vip = Segment.objects.create(name="上海高价值", slug="shanghai-high", rule=rule)
    base = Segment.objects.create(name="上海用户", slug="shanghai", rule=SHANGHAI)
    static = Segment.objects.create(name="名单", slug="list", kind=Segment.Kind.STATIC)

    with django_capture_on_commit_callbacks(execute=True):
        due = segments_refresh_due()

    assert set(due) == {vip.pk, base.pk}
    assert static.pk not in due
    assert members(vip) == {"a"}  # "shanghai" was ready when "shanghai-high" ran


def test_segments_evaluated_together_get_the_members_they_get_alone():
    now = timezone.now()
    for n, (count, amount) in enumerate([(1, "50"), (2, "300"), (3, "900"), (0, None)]):
        profile = ProfileFactory(external_id=f"p{n}", city="上海" if n % 2 else "北京")
        for day in range(count):
            PurchaseFactory(
                profile=profile,
                amount=Decimal(amount),
                occurred_at=now - datetime.timedelta(days=10 + 45 * day),
            )
    rules = [
        {"event": "purchase", "within_days": 30, "count": {"gte": 1}},
        {"event": "purchase", "within_days": 90, "count": {"gte": 2}},
        {"all": [{"attr": "city", "op": "eq", "value": "上海"},
                 {"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gt": 500}}]},
        {"event": "purchase", "within_days": 60, "count": {"lt": 2}},
        {"not": {"event": "purchase", "within_days": 90, "sum": "amount",
                 "value": {"between": [100, 700]}}},
    ]  # fmt: skip
    together = evaluated_together_and_alone(rules, now=now)

    assert together[1] == {"p1", "p2"}  # hand-checked: purchases on days 10 and 55


def test_segments_sharing_conditions_evaluated_together_get_what_they_get_alone(segment):
    now = timezone.now()
    for n, city in enumerate(["上海", "上海", "北京", "深圳", ""]):
        profile = ProfileFactory(external_id=f"p{n}", city=city, value_tier="high" if n else "mass")
        for day in range(n):
            PurchaseFactory(profile=profile, occurred_at=now - datetime.timedelta(days=5 + day))
    segment_evaluate(segment_id=segment.pk, now=now)  # "shanghai": p0, p1
    bought = {"event": "purchase", "within_days": 30, "count": {"gte": 2}}
    high = {"attr": "value_tier", "op": "eq", "value": "high"}
    rules = [
        {"all": [bought, high, {"attr": "city", "op": "eq", "value": "上海"}]},
        {"all": [high, bought, {"attr": "city", "op": "in", "value": ["北京", "深圳"]}]},
        {"all": [bought, high, {"segment": "shanghai"}]},
        {"all": [bought, high, {"not": {"segment": "shanghai"}}]},
    ]
    together = evaluated_together_and_alone(rules, now=now)

    assert together == [set(), {"p2", "p3"}, set(), {"p2", "p3", "p4"}]


def test_the_conditions_all_rules_require_are_found_at_their_top_level():
    bought = {"event": "purchase", "within_days": 30, "count": {"gte": 2}}
    high = {"attr": "value_tier", "op": "eq", "value": "high"}
    member = {"segment": "shanghai"}
    trees = [
        parse_rule({"all": [bought, member, high, {"attr": "city", "op": "is_set"}]}),
        parse_rule({"all": [high, member, {"any": [bought]}, bought]}),
    ]

    common = common_conditions(trees)

    # In the first rule's order; a segment's membership may change during the refresh.
    assert [node.to_json() for node in common] == [bought, high]
    assert common_conditions([*trees, parse_rule(high)]) == (parse_rule(high),)
    assert common_conditions([*trees, parse_rule({"any": [bought, high]})]) == ()


def test_a_segment_evaluated_recently_is_not_due(segment):
    segment_evaluate(segment_id=segment.pk)

    assert segments_refresh_due() == []


def test_a_segment_whose_worker_died_is_released_and_retried(segment, settings):
    old = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_SECONDS + 60)
    Segment.objects.filter(pk=segment.pk).update(status=Segment.Status.EVALUATING)
    SegmentRun.objects.create(segment=segment, started_at=old, version=1)

    due = segments_refresh_due()

    segment.refresh_from_db()
    assert due == [segment.pk]
    assert error_code(SegmentRun.objects.get().error) == "segment.worker_died"
    assert error_text(SegmentRun.objects.get().error, translate=False) == ERROR_WORKER_DIED


def test_merging_profiles_moves_segment_memberships(segment):
    kept = ProfileFactory(city="上海")
    duplicate = ProfileFactory(city="上海")
    segment_evaluate(segment_id=segment.pk)

    merge = profile_merge(source=duplicate, target=kept)

    assert merge.moved["segment_memberships"] == 0  # both were members: the target's row stays
    assert SegmentMembership.objects.filter(segment=segment).count() == 1
    assert SegmentTransition.objects.filter(profile=kept).count() == 2


def test_counts_and_sums_of_one_event_in_different_windows_combine_correctly():
    now = timezone.now()
    days = datetime.timedelta(days=1)
    both = ProfileFactory(external_id="both")
    old_only = ProfileFactory(external_id="old-only")
    small = ProfileFactory(external_id="small")
    ProfileFactory(external_id="none")
    for profile, ago, amount in [
        (both, 10, 300), (both, 20, 300),  # 2 recent purchases, 600 in the year
        (old_only, 200, 400), (old_only, 210, 400),  # 800 in the year, none recent
        (small, 5, 10), (small, 6, 10),  # 2 recent purchases, 20 in the year
    ]:  # fmt: skip
        EventFactory(profile=profile, name="purchase", amount=amount, occurred_at=now - ago * days)
    rule = {"all": [
        {"event": "purchase", "within_days": 90, "count": {"gte": 2}},
        {"event": "purchase", "within_days": 365, "sum": "amount", "value": {"gt": 500}},
    ]}  # fmt: skip
    segment = Segment.objects.create(name="buyers", slug="buyers", rule=rule)

    segment_evaluate(segment_id=segment.pk, now=now)

    assert members(segment) == {"both"}
