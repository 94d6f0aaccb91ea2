"""In a real browser the dashboard and a campaign's results page draw their charts."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import TrackingEvent
from core import roles
from profiles.models import Profile
from tests.campaigns.results_builders import campaign_started, ledger_add, purchase, track
from tests.factories import EventFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
DASHBOARD_CHARTS = ("events", "value-tiers", "rfm", "campaigns")
EMPTY_CHARTS = ("tags", "funnel", "segments")  # no tag, stage or segment: a sentence each


@pytest.fixture
def ops_with_results(transactional_db):
    cache.clear()
    Group.objects.get_or_create(name=roles.OPS)  # a transactional test flushed it
    campaign = campaign_started(slug="ab-browser", started_at=timezone.now(), holdout_percent=10)
    a = ledger_add(campaign, 30, variant="A")
    b = ledger_add(campaign, 30, variant="B")
    holdout = ledger_add(campaign, 6, status="holdout")
    track(a[:12], TrackingEvent.Kind.OPEN)
    track(a[:5], TrackingEvent.Kind.CLICK)
    track(b[:9], TrackingEvent.Kind.OPEN)
    track(b[:2], TrackingEvent.Kind.CLICK)
    for row in a[:4] + b[:1] + holdout[:1]:
        purchase(row, row.sent_at or campaign.started_at + datetime.timedelta(hours=2))
    Profile.objects.filter(pk__in=[row.profile_id for row in a]).update(
        value_tier="high", r_score=4, f_score=3
    )
    EventFactory.create_batch(3, profile_id=a[0].profile_id, channel="app")
    yield UserFactory(username="browser-results", roles=[roles.OPS])
    cache.clear()


def log_in(page, user):
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/")


def test_the_dashboard_and_the_results_page_draw_their_charts(page, ops_with_results):
    log_in(page, ops_with_results)

    page.goto("/")
    for chart in DASHBOARD_CHARTS:
        page.wait_for_selector(f"[data-chart={chart}] .js-plotly-plot .main-svg", state="attached")
    for chart in EMPTY_CHARTS:
        assert page.locator(f"[data-chart={chart}] .chart-empty").count() == 1
    page.click("a[href='/campaigns/ab-browser/results/']")
    page.wait_for_selector("[data-testid=rates-chart] .js-plotly-plot .main-svg", state="attached")
    page.wait_for_selector(
        "[data-testid=timeline-chart] .js-plotly-plot .main-svg", state="attached"
    )

    assert page.locator("[data-testid=results-table] tr[data-variant]").count() == 3
    assert page.locator("[data-testid=rates-chart] .main-svg .errorbar").count() > 0
    assert page.console_errors == []
