"""In a real browser a user logs in, sees the dashboard and its chart, and switches language."""

import pytest

from core import roles
from tests.factories import EventFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ops_with_data(transactional_db):
    for profile in ProfileFactory.create_batch(3):
        EventFactory.create_batch(2, profile=profile, channel="app")
    return UserFactory(username="browser-ops", roles=[roles.OPS])


def test_a_user_logs_in_and_sees_the_dashboard_in_chinese_then_english(page, ops_with_data):
    page.goto("/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", ops_with_data.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")

    page.wait_for_selector("h1:has-text('仪表盘')")
    page.wait_for_selector(".js-plotly-plot .main-svg", state="attached")
    assert page.locator("[data-stat=total]").inner_text() == "3"

    page.select_option("#language-select", "en")
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.wait_for_selector(".js-plotly-plot .main-svg", state="attached")

    assert page.console_errors == []
