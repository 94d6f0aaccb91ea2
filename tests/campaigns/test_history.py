"""The campaign page speaks the user's language: history, consent purpose and local times."""

import re

import pytest

from campaigns.models import CampaignChange
from tests.campaigns.campaign_builders import campaign_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def visible_text(html: str) -> str:
    """Return the page's text without tags and attributes (hover titles are allowed raw)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def history(html: str) -> str:
    return html.split('data-testid="history"', 1)[1].split("</table>", 1)[0]


def test_the_history_names_actions_and_details_in_chinese(ops_client):
    campaign = campaign_make()
    CampaignChange.objects.create(
        campaign=campaign, action="test_sent", detail={"to": "a@example.com", "variant": "A"}
    )
    CampaignChange.objects.create(
        campaign=campaign, action="updated", detail={"fields": ["from_email", "variants"]}
    )

    page = ops_client.get(f"/campaigns/{campaign.slug}/").content.decode()

    text = visible_text(history(page))
    assert "已发送测试消息" in text and "收件人：a@example.com；变体：A" in text
    assert "已编辑" in text and "字段：发件人、变体" in text
    assert "test_sent" not in text and "from_email" not in text and "updated" not in text
    assert 'title="test_sent"' in page


def test_the_history_shows_a_utc_time_in_local_time_like_every_other_date(ops_client):
    campaign = campaign_make()
    CampaignChange.objects.create(
        campaign=campaign, action="scheduled", detail={"send_at": "2026-03-01T06:05:00+00:00"}
    )

    text = visible_text(history(ops_client.get(f"/campaigns/{campaign.slug}/").content.decode()))

    assert "已排期" in text
    assert "发送时间：2026-03-01 14:05" in text
    assert "+00:00" not in text and "T06:05" not in text


def test_the_consent_purpose_is_its_label_with_the_slug_on_hover(ops_client):
    campaign = campaign_make()

    page = ops_client.get(f"/campaigns/{campaign.slug}/").content.decode()

    assert '<dd title="marketing">营销</dd>' in page
    assert "marketing" not in visible_text(page)
