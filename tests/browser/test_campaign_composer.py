"""In a real browser, in Chinese, a campaign manager walks the composer and sends now."""

import re

import pytest
from django.core import mail

from campaigns.models import Campaign, Send
from segments.models import Segment
from tests.browser.test_campaign_flow import PASSWORD, manager_and_audience  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_manager_composes_in_chinese_reviews_the_reach_and_sends_now(
    page,
    manager_and_audience,  # noqa: F811
):
    page.goto("/accounts/login/")
    page.fill("#id_username", manager_and_audience.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    Segment.objects.filter(slug="sh-members").update(size=30)  # as its evaluation records
    page.goto("/campaigns/new/")
    assert page.inner_text("[data-testid=composer-steps]").split() == [
        "1.", "受众", "2.", "内容与变体", "3.", "发送保护与排期", "4.", "确认",
    ]  # fmt: skip
    assert page.is_hidden("#step-content") and page.is_visible("#step-audience")
    page.fill("#id_name", "春季问候")
    assert page.inner_text("[data-testid=segment-size-sh-members]") == "30"
    page.check("[data-testid=segment-row-sh-members] input[name=include_segments]")
    page.wait_for_selector("[data-testid=audience-members][data-members='30']")
    page.fill("#id_holdout_percent", "10")
    page.click("[data-testid=next-content]")
    assert page.is_visible("#step-content") and page.is_hidden("#step-audience")
    page.fill("#id_variants-0-subject", "{{ name }}，春天来了")
    page.fill("#id_variants-0-body_text", "{{ city }}的{{ name }}，你好")
    page.fill("#id_variants-1-subject", "给{{ name }}的春季优惠")
    page.fill("#id_variants-1-body_text", "亲爱的{{ name }}")
    page.click("[data-testid=next-guards]")
    assert "频次上限" in page.inner_text("[data-testid=guards]")
    page.click("[data-testid=save-and-review]")

    page.wait_for_selector("[data-testid=reach-reachable]")
    campaign = Campaign.objects.get()
    shown = {
        key: int(page.inner_text(f"[data-testid=reach-{key}]").replace(",", ""))
        for key in ("members", "holdout", "no_consent", "reachable")
    }
    assert shown["members"] == 30 and shown["no_consent"] > 0
    reach_text = page.inner_text("[data-testid=reach]")
    assert "未授权" in reach_text or "无授权" in reach_text
    assert not re.search(r"\b(no_consent|holdout|frequency_cap)\b", page.inner_text("main"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=send-now]")
    page.wait_for_selector("[data-testid=campaign-progress][data-status=sent]", timeout=60_000)

    ledger = Send.objects.filter(campaign=campaign)
    assert ledger.filter(status="sent").count() == shown["reachable"] == len(mail.outbox)
    assert ledger.filter(status="holdout").count() == shown["holdout"]
    assert ledger.filter(skip_reason="no_consent").count() == shown["no_consent"]
    assert page.console_errors == [] and page.csp_violations == []
