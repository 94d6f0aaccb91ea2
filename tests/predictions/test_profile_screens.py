"""Scores on the 360° profile page and in the profile list (sorted and filtered by them)."""

import pytest

from predictions.models import PredictionRun
from profiles.models import ConsentSource
from profiles.services.consent import ConsentEntry, consent_record
from tests.factories import ProfileFactory, PurchaseFactory
from tests.predictions import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def live():
    run = builders.run(status=PredictionRun.Status.LIVE)
    builders.cluster(run=run, name="忠实大客户")
    return run


def test_the_profile_page_explains_the_scores_in_plain_words(ops_client, live):
    profile = ProfileFactory(external_id="alice")
    builders.score(
        profile,
        run=live,
        churn=0.28,
        clv="1280.40",
        cluster="loyal-big-spenders",
        recommendations=["toner", "sunscreen"],
    )

    html = ops_client.get("/profiles/alice/").content.decode()

    assert "Likely to buy again in the next 90 days: 72% (high)" in html
    assert "Churn risk: 28% (low)" in html
    assert "Expected value in the next 12 months: ¥1,280" in html
    assert (
        'href="/predictions/clusters/loyal-big-spenders/" data-testid="score-cluster">忠实大客户<'
        in html
    )
    assert "<li>toner</li><li>sunscreen</li>" in html


def test_the_profile_page_says_it_in_chinese(ops_client, live):
    builders.score(ProfileFactory(external_id="bob"), run=live, churn=0.8)
    ops_client.cookies["django_language"] = "zh-hans"

    html = ops_client.get("/profiles/bob/").content.decode()

    assert "未来 90 天再次购买的可能性：20%（低）" in html
    assert "流失风险：80%（高）" in html


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("nothing", "No purchase yet: scores start with the first purchase."),
        ("bought", "Not scored by the live refresh (it bought since)"),
        ("refused", "withdrew personalised profiling, so it is not scored."),
    ],
)
def test_a_profile_without_scores_says_why(ops_client, live, setup, reason):
    profile = ProfileFactory(external_id="carol")
    if setup != "nothing":
        PurchaseFactory(profile=profile)
    if setup == "refused":
        consent_record(
            entry=ConsentEntry(
                profile_id=profile.pk,
                channel="email",
                purpose="profiling",
                status="withdrawn",
                source=ConsentSource.WEB_FORM,
            )
        )

    html = ops_client.get("/profiles/carol/").content.decode()

    assert 'data-testid="no-scores"' in html
    assert reason in html


def test_before_any_refresh_a_buyer_is_told_the_models_have_not_run(ops_client):
    PurchaseFactory(profile=ProfileFactory(external_id="dave"))

    html = ops_client.get("/profiles/dave/").content.decode()

    assert "The models have not been refreshed yet." in html


@pytest.fixture
def scored(live):
    rows = [("a", 0.9, "100"), ("b", 0.2, "900"), ("c", 0.5, "500"), ("d", 0.5, "50")]
    for external_id, churn, clv in rows:
        builders.score(
            ProfileFactory(external_id=external_id, city="北京"), run=live, churn=churn, clv=clv
        )
    ProfileFactory(external_id="unscored", city="上海")
    return live


def listed(html: str) -> list[str]:
    return [part.split('"')[0] for part in html.split('data-testid="churn-')[1:]]


def test_the_profile_list_sorts_by_churn_risk_and_by_clv(ops_client, scored):
    by_churn = ops_client.get("/profiles/", {"sort": "churn_risk"}).content.decode()
    by_clv = ops_client.get("/profiles/", {"sort": "clv_365d"}).content.decode()

    assert listed(by_churn) == ["a", "d", "c", "b"]  # ties: newest first
    assert listed(by_clv) == ["b", "c", "a", "d"]
    assert 'data-testid="churn-a">90%<' in by_churn
    assert 'data-testid="clv-b">¥900<' in by_clv


def test_the_profile_list_filters_by_minimum_churn_risk_and_clv(ops_client, scored):
    html = ops_client.get("/profiles/", {"churn_min": "0.5", "clv_min": "60"}).content.decode()
    unscored = ops_client.get("/profiles/", {"city": "上海"}).content.decode()

    assert listed(html) == ["c", "a"]
    assert listed(unscored) == ["unscored"]
    assert 'data-testid="churn-unscored">—<' in unscored


def test_the_sorted_list_pages_by_keyset_through_ties(ops_client, live):
    for i in range(120):
        builders.score(ProfileFactory(external_id=f"p{i:03}"), run=live, churn=(i % 3) / 10)

    seen, params = [], {"sort": "churn_risk", "city": ""}
    for _page in range(5):
        response = ops_client.get("/profiles/", params)
        html = response.content.decode()
        seen += listed(html)
        if 'data-testid="next-page"' not in html:
            break
        link = html.split('data-testid="next-page"')[0].rsplit("after=", 1)[1]
        cursor = link.split('"')[0]
        params = {"sort": "churn_risk", "after": cursor}

    assert len(seen) == len(set(seen)) == 120
    churns = [(i % 3) / 10 for i in (int(e[1:]) for e in seen)]
    assert churns == sorted(churns, reverse=True)


def test_a_mangled_cursor_shows_the_first_page(ops_client, scored):
    for cursor in ("x_y", "abc_12", "0.5_abc"):
        html = ops_client.get("/profiles/", {"sort": "churn_risk", "after": cursor})

        assert listed(html.content.decode()) == ["a", "d", "c", "b"]
