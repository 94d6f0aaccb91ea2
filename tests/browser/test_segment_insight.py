"""In a real browser at 1,024 px the segment page's charts fit their cards, in Chinese."""

import datetime
import random

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from core import roles
from segments.models import Segment, SegmentMembership, SegmentRun
from tests.browser.conftest import log_in
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, TagFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
WIDTH = 1024

# Every chart's drawing (its SVG) and every table against the card that holds it.
OVERFLOWS = """() => {
  const out = [];
  document.querySelectorAll(".js-plotly-plot").forEach((chart) => {
    const card = chart.closest(".card");
    const box = card.getBoundingClientRect();
    chart.querySelectorAll("svg.main-svg").forEach((svg) => {
      const r = svg.getBoundingClientRect();
      if (r.right > box.right + 1 || r.left < box.left - 1)
        out.push(`${card.dataset.testid}: svg ${r.left}-${r.right}`
          + ` in card ${box.left}-${box.right}`);
    });
  });
  if (document.documentElement.scrollWidth > window.innerWidth)
    out.push(`page ${document.documentElement.scrollWidth} wide in ${window.innerWidth}`);
  return out;
}"""

# The x axes of the drawn charts: their type and, for a date axis, the span in milliseconds.
AXES = """() => Array.from(document.querySelectorAll(".js-plotly-plot")).map((chart) => {
  const axis = chart._fullLayout.xaxis;
  return {type: axis.type, span: axis.type === "date"
    ? new Date(axis.range[1]) - new Date(axis.range[0]) : null};
})"""


@pytest.fixture
def segments_with_people(transactional_db):
    Group.objects.get_or_create(name=roles.OPS)  # an earlier transactional test flushed it
    rng = random.Random(3)
    tags = [TagFactory(slug=f"interest-{i}", label=f"很长的兴趣标签名称之{i}") for i in range(12)]
    first = Segment.objects.create(name="高价值上海用户", slug="first", kind=Segment.Kind.STATIC)
    second = Segment.objects.create(name="最近活跃", slug="second", kind=Segment.Kind.STATIC)
    for number in range(120):
        profile = ProfileFactory(
            city=rng.choice(["上海", "北京", "广州", "深圳", "杭州", "成都", "乌鲁木齐"]),
            value_tier=rng.choice(["high", "mid", "mass"]),
            channel=rng.choice(["wechat", "douyin", "organic"]),
            birth_date=datetime.date(1960 + rng.randrange(45), 5, 1),
            last_seen_at=timezone.now() - datetime.timedelta(hours=number),
        )
        for tag in rng.sample(tags, 3):
            ProfileTagFactory(profile=profile, tag=tag)
        EventFactory(profile=profile, channel=rng.choice(["web", "app", "store"]))
        if number % 2:
            SegmentMembership.objects.create(segment=first, profile=profile)
        if number % 3:
            SegmentMembership.objects.create(segment=second, profile=profile)
    start = timezone.now() - datetime.timedelta(days=3)
    for day, size in enumerate([40, 52, 60]):
        SegmentRun.objects.create(
            segment=first, started_at=start + datetime.timedelta(days=day), size=size
        )
    return UserFactory(username="browser-insight", roles=[roles.OPS])


def _charts_drawn(page, count: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot svg.main-svg').length >= {count}"
    )
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # charts.js fits them again once the page has loaded


def test_the_segment_charts_fit_their_cards_at_1024_px(page, segments_with_people):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    log_in(page, segments_with_people, PASSWORD)

    page.goto("/segments/first/")
    _charts_drawn(page, 1)
    assert page.evaluate(OVERFLOWS) == []
    assert [axis["type"] for axis in page.evaluate(AXES)] == ["category"]
    assert page.locator("[data-testid=members] tbody tr").count() == 25
    assert "最近活跃" in page.inner_text("[data-testid=members] thead")

    page.goto("/segments/first/portrait/")
    _charts_drawn(page, 8)
    assert page.evaluate(OVERFLOWS) == []
    assert "date" not in [axis["type"] for axis in page.evaluate(AXES)]
    assert "微信" in page.inner_text("[data-testid=portrait-channel]")

    page.goto("/segments/first/overlap/")
    page.check("input[name=with][value=second]")
    page.click("[data-testid=overlap-form] button[type=submit]")
    _charts_drawn(page, 1)
    assert page.evaluate(OVERFLOWS) == []
    assert "Jaccard" in page.inner_text("[data-testid=overlap-pairs]")
    assert page.console_errors == [] and page.csp_violations == []
