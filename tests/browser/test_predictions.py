"""In a real browser, in Chinese and English: the model page, a cluster portrait, and a segment
built on ``churn_risk`` in the rule builder, saved and evaluated with the right members."""

import contextlib
import json

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core import roles
from predictions.models import PredictionRun
from segments.models import Segment
from tests.factories import ProfileFactory, UserFactory
from tests.predictions import builders

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
TEXTS = {
    "zh-hans": {"model": "预测", "auc": "留出集 AUC", "baseline": "仅按最近购买（基线）",
                "feature": "累计消费", "churn": "流失风险（0–1）"},
    "en": {"model": "Predictions", "auc": "Held-out AUC", "baseline": "Recency only (baseline)",
           "feature": "Total spend", "churn": "Churn risk (0–1)"},
}  # fmt: skip
RAW = ("bgnbd", "supervised", "live", "recency_days", "total_spend")


@pytest.fixture
def ops_with_scores(transactional_db):
    Group.objects.get_or_create(name=roles.OPS)  # an earlier transactional test flushed it
    run = builders.run(status=PredictionRun.Status.LIVE)
    builders.cluster(run=run)
    for external_id, churn in (("leaving-1", 0.9), ("leaving-2", 0.75), ("staying", 0.1)):
        builders.score(
            ProfileFactory(external_id=external_id),
            run=run,
            churn=churn,
            cluster="loyal-big-spenders",
        )
    ProfileFactory(external_id="never-bought")
    return UserFactory(username="browser-predictor", roles=[roles.OPS])


def log_in(page, user, language: str):
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    if language == "en":
        page.select_option("#language-select", "en")
        page.wait_for_selector("html[lang=en]")


FITTED = """() => [...document.querySelectorAll('.card.chart')].every(card => {
  const svg = card.querySelector('.js-plotly-plot .main-svg');
  return svg && svg.getBoundingClientRect().right <= card.getBoundingClientRect().right + 1;
})"""


def assert_charts_fit_their_cards(page):
    page.wait_for_load_state("load")  # what a person sees once the page has loaded …
    page.wait_for_selector(".card.chart .js-plotly-plot .main-svg", state="attached")
    # … and plotly has redrawn (its resize waits 100 ms); if not, the assertions below say where.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(FITTED, timeout=3000)
    for card in page.locator(".card.chart").all():
        # The drawing (the SVG), not its div: plotly may draw wider than the div it sits in.
        box = card.bounding_box()
        plot = card.locator(".js-plotly-plot .main-svg").first.bounding_box()
        assert plot["width"] > 100
        assert plot["x"] >= box["x"] - 1
        assert plot["x"] + plot["width"] <= box["x"] + box["width"] + 1


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_model_page_and_a_cluster_portrait(page, ops_with_scores, language):
    texts = TEXTS[language]
    page.set_viewport_size({"width": 1440, "height": 900})  # two charts side by side
    log_in(page, ops_with_scores, language)

    page.goto("/predictions/")
    page.wait_for_selector(f"h1:has-text('{texts['model']}')")
    table = page.locator("[data-testid=auc-table]")
    assert texts["auc"] in table.inner_text()
    assert page.inner_text("[data-testid=auc-supervised]") == "0.830"
    assert page.inner_text("[data-testid=auc-recency]") == "0.700"
    assert texts["baseline"] in table.inner_text()
    assert page.locator("[data-chart=calibration] .js-plotly-plot").count() == 1
    assert_charts_fit_their_cards(page)
    assert page.locator("nav.mainnav a[aria-current=page]").get_attribute("href") == "/predictions/"
    visible = page.inner_text("main")
    assert not [raw for raw in RAW if raw in visible.split()]

    page.click("nav.subnav a[href='/predictions/clusters/']")
    page.click("a[href='/predictions/clusters/loyal-big-spenders/']")
    page.wait_for_selector("[data-testid=cluster-name]")
    assert page.inner_text("[data-testid=cluster-size]") == "300"
    assert texts["feature"] in page.inner_text("[data-testid=cluster-features]")
    assert_charts_fit_their_cards(page)
    page.fill("#id_name", f"大客户 {language}")
    page.click("[data-testid=cluster-rename] button")
    page.wait_for_selector(f"[data-testid=cluster-name]:text-is('大客户 {language}')")
    assert page.console_errors == []


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_segment_built_on_churn_risk_has_the_right_members(page, ops_with_scores, language):
    log_in(page, ops_with_scores, language)

    page.goto("/segments/new/")
    page.wait_for_selector("[data-path='rule'][data-kind='all']")
    page.fill("#id_name", "即将流失")
    page.fill("#id_slug", f"leaving-{language}")
    condition = "[data-path='all[0]']"
    attr = page.locator(f"{condition} [data-role=attr]")
    option = attr.locator("option[value=churn_risk]")
    assert option.inner_text() == TEXTS[language]["churn"]
    assert option.get_attribute("title") == "churn_risk"  # the raw name, on hover
    attr.select_option("churn_risk")
    page.select_option(f"{condition} [data-role=op]", "gte")
    page.fill(f"{condition} [data-role=value]", "0.7")
    page.wait_for_selector("[data-testid=preview-count]:text-is('2')")
    rule = {"all": [{"attr": "churn_risk", "op": "gte", "value": 0.7}]}
    assert json.loads(page.input_value("#id_rule")) == rule

    page.click("button[type=submit].primary")
    page.wait_for_url(f"**/segments/leaving-{language}/")
    assert Segment.objects.get(slug=f"leaving-{language}").rule == rule
    page.click("form[action$='/evaluate/'] button")
    page.wait_for_url(f"**/segments/leaving-{language}/")
    page.reload()

    members = page.locator("[data-testid=members] tbody a").all_inner_texts()
    assert sorted(members) == ["leaving-1", "leaving-2"]
    assert page.console_errors == []
