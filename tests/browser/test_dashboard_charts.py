"""In a real browser, in Chinese and English, at 1,440 and 1,024 px: the dashboard's charts fit
their cards (also when a card changes width without a window resize), time goes by local day on a
category axis, an empty chart is a sentence, and plotly's own words follow the language."""

import contextlib
import datetime

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core import roles
from profiles.models import Profile
from segments.models import Segment, SegmentRun
from tests.browser.conftest import log_in
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, TagFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
TEXTS = {
    "zh-hans": {"empty": "暂无数据可显示。", "reset": "重置坐标轴"},
    "en": {"empty": "Nothing to show yet.", "reset": "Reset axes"},
}

# Each chart card with its width and the width of plotly's drawing (the SVG, not its div).
OVERFLOWING = """() => [...document.querySelectorAll('.card.chart')].flatMap(card => {
  const svg = card.querySelector('.js-plotly-plot .main-svg');
  if (!svg) return [];
  const box = card.getBoundingClientRect(), plot = svg.getBoundingClientRect();
  return plot.right > box.right + 1 || plot.left < box.left - 1
    ? [`${card.dataset.chart}: ${Math.round(plot.width)} px in ${Math.round(box.width)} px`] : [];
})"""
# The x axes plotly drew: their type and the span of their range.
X_AXES = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const axis = plot._fullLayout && plot._fullLayout.xaxis;
  return [plot.closest('[data-chart]').dataset.chart, axis.type, axis.range];
})"""


@pytest.fixture
def ops_with_data(transactional_db):
    Group.objects.get_or_create(name=roles.OPS)  # an earlier transactional test flushed it
    profiles = ProfileFactory.create_batch(6)
    Profile.objects.filter(pk__in=[p.pk for p in profiles[:3]]).update(value_tier="high")
    Profile.objects.filter(pk__in=[p.pk for p in profiles[3:5]]).update(value_tier="mid")
    for profile in profiles:
        EventFactory.create_batch(2, profile=profile, channel="app")
    for n in range(8):
        tag = TagFactory(slug=f"tag-{n}", label=f"A rather long tag label number {n}")
        ProfileTagFactory(profile=profiles[n % 6], tag=tag)
    segment = Segment.objects.create(name="Big spenders", slug="big", size=3)
    for days, size in ((2, 2), (1, 3)):
        at = timezone.now() - datetime.timedelta(days=days)
        SegmentRun.objects.create(segment=segment, started_at=at, finished_at=at, size=size)
    return UserFactory(username="charts-ops", roles=[roles.OPS])


def overflowing(page) -> list[str]:
    with contextlib.suppress(PlaywrightTimeout):  # plotly's resize waits 100 ms: let it settle
        page.wait_for_function(f"() => ({OVERFLOWING})().length === 0", timeout=3000)
    return page.evaluate(OVERFLOWING)


@pytest.mark.parametrize("width", [1440, 1024])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_dashboard_charts_fit_their_cards_and_speak_the_language(
    page, ops_with_data, language, width
):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, ops_with_data, PASSWORD)
    if language == "en":
        page.select_option("#language-select", "en")
        page.wait_for_selector("html[lang=en]")
    page.wait_for_load_state("load")
    page.wait_for_selector(".card.chart .js-plotly-plot .main-svg", state="attached")

    assert overflowing(page) == []

    # A card narrower without a window resize (plotly's "responsive" alone would not follow).
    page.evaluate("() => { document.querySelector('main').style.maxWidth = '760px'; }")
    assert overflowing(page) == []

    axes = {chart: (kind, span) for chart, kind, span in page.evaluate(X_AXES)}
    assert axes["events"][0] == "category"  # one day of events: a day, not milliseconds
    assert axes["segments"][0] == "category"
    funnel = page.locator("[data-chart=funnel]")
    assert funnel.locator(".chart-empty").inner_text().endswith(TEXTS[language]["empty"])
    assert funnel.locator(".js-plotly-plot").count() == 0
    titles = page.locator("[data-chart=events] .modebar-btn").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('data-title'))"
    )
    assert TEXTS[language]["reset"] in titles
    assert page.console_errors == []
    assert page.csp_violations == []
