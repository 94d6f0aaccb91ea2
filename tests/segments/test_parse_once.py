"""Each rule is parsed once per save and once per refresh, however many steps read it."""

import json
import sys

import pytest

from segments import rules
from segments.models import Segment
from segments.services import segment_save, segments_evaluate_many
from tests.factories import ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

RULE = {
    "all": [
        {"attr": "city", "op": "eq", "value": "上海"},
        {"event": "purchase", "within_days": 365, "count": {"gte": 1}},
    ]
}


@pytest.fixture
def parses(monkeypatch) -> list:
    """Record every call of parse_rule, wherever a module imported it from."""
    original = rules.parse_rule
    calls: list = []

    def spy(data, **kwargs):
        calls.append(data)
        return original(data, **kwargs)

    for name, module in list(sys.modules.items()):
        ours = name.split(".")[0] in ("segments", "journeys", "campaigns")
        if ours and getattr(module, "parse_rule", None) is original:
            monkeypatch.setattr(module, "parse_rule", spy)
    return calls


@pytest.fixture
def buyers():
    PurchaseFactory(profile=ProfileFactory(external_id="sh", city="上海"))
    ProfileFactory(external_id="bj", city="北京")


def test_saving_a_segment_from_its_page_parses_the_rule_once(ops_client, parses, buyers):
    data = {
        "name": "Buyers",
        "slug": "buyers",
        "description": "",
        "kind": "dynamic",
        "refresh_minutes": "60",
        "rule": json.dumps(RULE, ensure_ascii=False),
    }

    response = ops_client.post("/segments/new/", data)

    assert response.status_code == 302
    assert Segment.objects.get(slug="buyers").rule == RULE
    assert parses == [RULE]


def test_saving_without_a_parsed_tree_still_checks_the_rule_once(parses, buyers):
    segment_save(data={"name": "B", "slug": "b", "kind": "dynamic", "rule": RULE})

    assert parses == [RULE]


def test_a_tree_for_another_rule_is_not_trusted(parses, buyers):
    other = rules.parse_rule({"attr": "city", "op": "is_set"})
    parses.clear()

    segment_save(data={"name": "B", "slug": "b", "kind": "dynamic", "rule": RULE}, tree=other)

    assert parses == [RULE]


def test_refreshing_n_segments_parses_each_rule_once(parses, buyers):
    base = Segment.objects.create(name="Base", slug="base", rule=RULE)
    referring = [
        Segment.objects.create(
            name=f"R{number}", slug=f"r{number}", rule={"all": [{"segment": "base"}, RULE]}
        )
        for number in range(3)
    ]
    ids = [segment.pk for segment in referring] + [base.pk]

    runs = segments_evaluate_many(segment_ids=ids)

    assert len(parses) == 4
    assert all(run is not None and not run.error for run in runs)
    assert runs[0].segment_id == base.pk  # the referred segment first
    assert set(
        Segment.objects.get(slug="r2").memberships.values_list("profile__external_id", flat=True)
    ) == {"sh"}
