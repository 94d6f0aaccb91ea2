"""In a real browser, in Chinese: the top bar shows a finished job's notification (badge, menu,
mark read), and the API tokens page makes a token shown once, then revokes it."""

import datetime
import re

import pytest
from django.utils import timezone

from core import roles
from core.models import ApiToken
from core.notifications import notification_send
from tests.browser.conftest import log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ops(transactional_db):
    return UserFactory(username="browser-ops", roles=[roles.OPS])


def test_a_finished_job_shows_in_the_top_bar_until_read(page, ops):
    notification_send(user_id=ops.pk, topic="job", level="done",
                      params={"kind": "core.selftest", "job_id": 41}, url="/jobs/")  # fmt: skip
    log_in(page, ops, PASSWORD)

    page.goto("/")
    badge = page.locator("[data-testid=notification-count]")
    assert badge.inner_text() == "1"
    page.click("[data-testid=notifications] summary")
    entry = page.locator(".notifications-menu [data-testid=notification]")
    entry.wait_for()
    assert entry.inner_text().startswith("工作进程自检已完成（任务 #41）")
    page.click("[data-testid=notifications-read]")
    page.wait_for_selector(".notifications-menu li.read")
    page.reload()

    assert page.locator("[data-testid=notification-count]").count() == 0
    assert page.console_errors == []
    assert page.csp_violations == []


def test_a_token_is_made_shown_once_and_revoked(page, ops):
    log_in(page, ops, PASSWORD)
    page.goto("/")
    page.click("a[href='/accounts/tokens/']")
    page.wait_for_selector("h1:has-text('API 令牌')")
    assert page.locator("[data-testid=api-docs]").get_attribute("href") == "/api/v1/docs/"

    page.fill("#id_name", "数仓同步")
    day = timezone.localdate() + datetime.timedelta(days=30)
    page.fill("#id_expires_on", day.isoformat())
    page.click("[data-testid=token-form] button[type=submit]")
    key = page.locator("[data-testid=token-key]").inner_text()
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    token = ApiToken.objects.get(user=ops)
    assert page.locator(f"[data-testid=token-{token.prefix}]").is_visible()
    page.goto("/accounts/tokens/")
    assert key not in page.content()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid=token-{token.prefix}] button.danger")
    page.wait_for_selector("text=你还没有 API 令牌。")

    assert not ApiToken.objects.exists()
    assert page.console_errors == []
    assert page.csp_violations == []
