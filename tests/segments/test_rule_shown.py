"""Where a rule is shown it reads as a sentence: the live preview, the segment, a campaign."""

import json

import pytest
from django.utils import translation
from django.utils.html import strip_tags

from campaigns.models import Campaign
from profiles.models import ConsentSource
from profiles.services.consent import ConsentEntry, consent_record
from segments.models import Segment
from tests.factories import ProfileFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SHANGHAI_BUYERS = {
    "all": [
        {"attr": "city", "op": "eq", "value": "上海"},
        {"event": "purchase", "within_days": 90, "count": {"gte": 1}},
    ]
}


def withdraw_profiling(profile) -> None:
    consent_record(
        entry=ConsentEntry(
            profile_id=profile.pk, channel="email", purpose="profiling", status="withdrawn",
            source=ConsentSource.WEB_FORM,
        )
    )  # fmt: skip


@pytest.fixture
def buyers(db):
    """Three Shanghai buyers, two of whom withdrew personalised profiling."""
    people = [ProfileFactory(external_id=f"buyer-{i}", city="上海") for i in range(3)]
    for profile in people:
        PurchaseFactory(profile=profile)
    for profile in people[1:]:
        withdraw_profiling(profile)
    return people


def preview(client, rule, language="en") -> str:
    with translation.override(language):
        response = client.post(
            "/segments/preview/",
            {"rule": json.dumps(rule)},
            HTTP_ACCEPT_LANGUAGE=language,
        )
    assert response.status_code == 200
    return response.content.decode()


def test_the_live_preview_says_how_many_the_profiling_opt_out_leaves_out(ops_client, buyers):
    page = preview(ops_client, SHANGHAI_BUYERS)

    assert 'data-testid="preview-count">1<' in page
    assert "2 more profiles would match but are left out" in page


def test_a_rule_that_reads_no_behaviour_leaves_nobody_out(ops_client, buyers):
    page = preview(ops_client, {"attr": "city", "op": "eq", "value": "上海"})

    assert 'data-testid="preview-count">3<' in page
    assert "preview-opted-out" not in page


def test_the_live_preview_reads_the_rule_as_a_sentence_in_chinese(ops_client, buyers):
    ops_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    page = preview(ops_client, SHANGHAI_BUYERS, "zh-hans")

    assert 'data-testid="rule-sentence"' in page
    assert "城市 等于 上海 且 最近 90 天 购买 次数 ≥ 1" in strip_tags(page)
    assert '<span class="rule-term" title="city">城市</span>' in page
    assert "另有 2 位用户符合规则，但因撤回个性化画像授权而被排除。" in page


def test_the_segment_page_reads_its_rule_as_a_sentence(ops_client):
    Segment.objects.create(name="上海买家", slug="sh-buyers", rule=SHANGHAI_BUYERS)

    page = ops_client.get("/segments/sh-buyers/").content.decode()

    assert 'data-testid="rule-sentence"' in page
    assert "city equals 上海 and purchase count in the last 90 days ≥ 1" in strip_tags(page)


def test_a_campaign_page_reads_its_audiences_rules(ops_client, campaign_manager, client):
    segment = Segment.objects.create(name="上海买家", slug="sh-buyers", rule=SHANGHAI_BUYERS)
    campaign = Campaign.objects.create(name="春季促销", slug="spring", channel="email")
    campaign.include_segments.add(segment)
    client.force_login(campaign_manager)

    page = client.get(f"/campaigns/{campaign.slug}/").content.decode()

    assert 'data-testid="audience-rule"' in page
    assert "city equals 上海 and purchase count in the last 90 days ≥ 1" in strip_tags(page)
