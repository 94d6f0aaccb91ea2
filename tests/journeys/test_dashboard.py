"""The dashboard: every block and chart for ops users, cached and refreshed on new data."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from journeys import selectors
from journeys.tasks import dashboard_refresh_task
from profiles.models import Profile
from segments.models import Segment, SegmentRun
from tests.campaigns.results_builders import campaign_started, ledger_add, track
from tests.factories import EventFactory, ProfileFactory, ProfileTagFactory, TagFactory

pytestmark = pytest.mark.django_db

CHARTS = ("events", "value-tiers", "rfm", "tags", "funnel", "segments", "campaigns")


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def data():
    profiles = ProfileFactory.create_batch(4)
    Profile.objects.filter(pk__in=[p.pk for p in profiles[:3]]).update(
        value_tier="high", r_score=5, f_score=4
    )
    EventFactory.create_batch(2, profile=profiles[0], channel="app")
    tag = TagFactory(slug="coupon-lover", label="Coupon lover")
    ProfileTagFactory(profile=profiles[0], tag=tag)
    ProfileTagFactory(profile=profiles[1], tag=tag)
    segment = Segment.objects.create(name="Big spenders", slug="big", size=3)
    for days, size in ((3, 1), (2, 2), (1, 3)):
        at = timezone.now() - datetime.timedelta(days=days)
        SegmentRun.objects.create(segment=segment, started_at=at, finished_at=at, size=size)
    campaign = campaign_started(slug="spring", started_at=timezone.now())
    track(ledger_add(campaign, 4, variant="A")[:2], "open")
    return profiles


def test_the_dashboard_renders_every_chart_for_ops_users(ops_client, data):
    response = ops_client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    for chart in CHARTS:
        assert f'data-chart="{chart}"' in html
    assert html.count('class="plotly-graph-div"') == len(CHARTS) - 1
    funnel = html.split('data-chart="funnel"')[1].split("</section>")[0]
    assert 'class="chart-empty"' in funnel  # no journey stage: a sentence, not bare axes
    assert 'data-stat="total">8<' in html
    assert "Coupon lover" in html
    assert "Big spenders" in html
    assert 'href="/campaigns/spring/results/"' in html
    assert "50.0%" in html  # the campaign's open rate
    assert "cdn.plot.ly" not in html


def test_the_blocks_are_computed_as_expected(data):
    blocks = selectors.dashboard_data()

    assert blocks["totals"]["total"] == 8  # 4 here, 4 in the ledger
    tiers = {row["value_tier"]: 0 for row in blocks["rfm"]}
    for row in blocks["rfm"]:
        tiers[row["value_tier"]] += row["n"]
    assert tiers == {"high": 3, "": 5}
    assert blocks["tags"]["tagged"] == 2
    assert blocks["tags"]["tags"][0]["n"] == 2
    assert [point["size"] for point in blocks["segments"][0]["trend"]] == [1, 2, 3]
    assert blocks["campaigns"][0]["open_rate"] == 0.5


def test_a_second_view_is_served_from_the_cache_and_the_refresh_task_brings_new_rows(
    ops_client, data, django_assert_max_num_queries
):
    ops_client.get("/")

    with django_assert_max_num_queries(20) as warm:
        ops_client.get("/")
    ProfileFactory()
    before_refresh = ops_client.get("/").content.decode()
    refreshed = dashboard_refresh_task()
    after_refresh = ops_client.get("/").content.decode()

    expensive = [q["sql"] for q in warm.captured_queries if "COUNT(" in q["sql"].upper()]
    assert expensive == []
    assert 'data-stat="total">8<' in before_refresh  # served from the cache, computed before
    assert "totals" in refreshed and "events" not in refreshed  # only what changed
    assert 'data-stat="total">9<' in after_refresh


def test_the_dashboard_works_on_an_empty_database(ops_client):
    response = ops_client.get("/")

    assert response.status_code == 200
    assert "No campaign has started yet." in response.content.decode()


def test_an_sms_campaign_on_the_dashboard_reads_not_tracked_for_opens_and_clicks(
    ops_client, db, settings
):
    settings.SMS_SHORT_LINKS = False  # no short links: its clicks are not counted either
    campaign = campaign_started(slug="texts", channel="sms", started_at=timezone.now())
    ledger_add(campaign, 4, variant="A")

    html = ops_client.get("/").content.decode()

    row = html.split('href="/campaigns/texts/results/"')[1].split("</tr>")[0]
    assert row.count("not tracked") == 2
    assert "0.0%" in row  # the conversion rate is measured
    assert selectors.dashboard_data()["campaigns"][0]["open_rate"] is None


def test_an_sms_campaign_with_short_links_shows_its_click_rate(ops_client, db, settings):
    settings.SMS_SHORT_LINKS = settings.CAMPAIGN_TRACKING = True
    campaign = campaign_started(slug="texts", channel="sms", started_at=timezone.now())
    ledger_add(campaign, 4, variant="A")

    html = ops_client.get("/").content.decode()

    row = html.split('href="/campaigns/texts/results/"')[1].split("</tr>")[0]
    assert row.count("not tracked") == 1  # opens only
    data = selectors.dashboard_data()["campaigns"][0]
    assert data["open_rate"] is None and data["click_rate"] == 0.0
