"""The dashboard's churn-risk by value matrix and the score attributes in the rule builder."""

import json
from urllib.parse import parse_qs, urlparse

import pytest

from journeys.selectors import dashboard_refresh
from predictions.models import PredictionRun
from segments.models import Segment
from segments.services import segment_evaluate
from tests.factories import ProfileFactory
from tests.predictions import builders

pytestmark = pytest.mark.django_db

# (external id, churn risk, CLV): CLV thirds at 100 and 1000 (the 2nd and 4th of six by CLV)
SCORES = [
    ("cheap-loyal", 0.1, "10"),
    ("cheap-leaving", 0.9, "50"),
    ("mid-loyal", 0.2, "100"),
    ("mid-wavering", 0.3, "500"),
    ("rich-leaving", 0.7, "1000"),
    ("rich-loyal", 0.05, "5000"),
]


@pytest.fixture
def scored():
    run = builders.run(status=PredictionRun.Status.LIVE)
    for external_id, churn, clv in SCORES:
        builders.score(ProfileFactory(external_id=external_id), run=run, churn=churn, clv=clv)
    return run


def cell(html: str, key: str) -> tuple[int, dict]:
    """Return the count of a matrix cell and the rule its link pre-fills."""
    link = html.split(f'data-testid="matrix-{key}">')[0].rsplit('href="', 1)[1].split('"')[0]
    count = int(html.split(f'data-testid="matrix-{key}">')[1].split("<")[0])
    query = parse_qs(urlparse(link.replace("&amp;", "&")).query)
    return count, json.loads(query["rule"][0])


def test_the_dashboard_counts_profiles_by_churn_band_and_value_third(ops_client, scored):
    html = ops_client.get("/").content.decode()

    counts = {
        key: cell(html, key)[0]
        for key in [f"{band}-{col}" for band in ("low", "medium", "high") for col in range(3)]
    }
    assert counts == {
        "low-0": 1, "low-1": 1, "low-2": 1,
        "medium-0": 0, "medium-1": 1, "medium-2": 0,
        "high-0": 1, "high-1": 0, "high-2": 1,
    }  # fmt: skip
    assert "Low value (&lt; ¥100)" in html


def test_a_cell_opens_the_segment_form_with_a_rule_selecting_the_same_profiles(ops_client, scored):
    html = ops_client.get("/").content.decode()
    count, rule = cell(html, "high-2")

    form = ops_client.get("/segments/new/", {"rule": json.dumps(rule), "name": "x"})
    saved = ops_client.post(
        "/segments/new/",
        {
            "name": "Rich leaving",
            "slug": "rich-leaving",
            "kind": "dynamic",
            "rule": json.dumps(rule),
        },
    )
    segment = Segment.objects.get(slug="rich-leaving")
    segment_evaluate(segment_id=segment.pk)

    assert rule["all"][0] == {"attr": "churn_risk", "op": "gte", "value": 0.7}
    assert "churn_risk" in form.content.decode() and form.status_code == 200
    assert saved.status_code == 302
    members = set(segment.memberships.values_list("profile__external_id", flat=True))
    assert members == {"rich-leaving"} and count == 1


def test_the_matrix_is_refreshed_with_the_other_dashboard_blocks(ops_client, scored):
    ops_client.get("/")
    builders.score(ProfileFactory(external_id="late"), run=scored, churn=0.95, clv="1")
    PredictionRun.objects.filter(pk=scored.pk).update(scored=7)

    assert "predictions" in dashboard_refresh()
    html = ops_client.get("/").content.decode()
    assert "7 scored customers" in html
    assert cell(html, "high-0")[0] == 1  # "late"; the thirds moved: cheap-leaving is mid now


def test_without_scores_the_dashboard_says_so(ops_client):
    html = ops_client.get("/").content.decode()

    assert 'data-testid="churn-matrix"' in html
    assert "No customer has scores yet." in html


def builder_attributes(html: str) -> dict:
    text = html.split('id="rule-builder-choices"')[1].split(">", 1)[1].split("</script>")[0]
    return {a["name"]: a for a in json.loads(text)["attributes"]}


def test_the_rule_builder_offers_the_scores_with_their_labels(ops_client):
    html = ops_client.get("/segments/new/").content.decode()

    attributes = builder_attributes(html)
    assert attributes["churn_risk"]["label"] == "Churn risk (0–1)"
    assert attributes["clv_365d"]["type"] == "decimal"
    assert attributes["city"]["label"] == "city"  # profile fields: their verbose name


def test_the_rule_builder_labels_are_in_chinese(ops_client):
    ops_client.cookies["django_language"] = "zh-hans"

    attributes = builder_attributes(ops_client.get("/segments/new/").content.decode())

    assert attributes["churn_risk"]["label"] == "流失风险（0–1）"
    assert attributes["city"]["label"] == "城市"
