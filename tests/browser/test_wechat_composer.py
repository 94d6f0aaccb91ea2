"""In a real browser, in Chinese, a campaign manager writes a WeChat template campaign: the content
step shows the template's parts for the channel chosen, and the preview fills them."""

import pytest
from django.contrib.auth.models import Group

from campaigns.models import Campaign
from core import roles
from segments.models import Segment, SegmentMembership
from tests.browser.conftest import log_in
from tests.browser.screen_checks import screen_problems
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
DATA = "thing1 = {{ name }}，春季新品到店\nthing2 = {{ city }}"
LINK = "https://shop.example.com/spring?city={{ city }}"


@pytest.fixture
def manager(transactional_db):
    Group.objects.get_or_create(name=roles.CAMPAIGN_MANAGER)  # a transactional test flushed it
    segment = Segment.objects.create(name="微信粉丝", slug="wx-fans", kind=Segment.Kind.STATIC)
    profile = ProfileFactory(external_id="wx-01", name="王芳", city="杭州")
    SegmentMembership.objects.create(segment=segment, profile=profile)
    user = UserFactory(username="browser-wechat", roles=[roles.CAMPAIGN_MANAGER])
    user.set_password(PASSWORD)
    user.save()
    return user


def test_a_manager_writes_and_previews_a_wechat_template_campaign_in_chinese(page, manager):
    log_in(page, manager, PASSWORD)
    page.goto("/campaigns/new/")
    page.fill("#id_name", "春季新品微信通知")
    page.select_option("#id_channel", "wechat")
    page.check("[data-testid=segment-row-wx-fans] input[name=include_segments]")
    page.click("[data-testid=next-content]")

    assert page.is_visible("#id_variants-0-wechat__template_id")
    assert page.is_hidden("#id_variants-0-subject")  # email's parts are not this channel's
    page.fill("#id_variants-0-wechat__template_id", "TPL-SPRING-01")
    page.fill("#id_variants-0-wechat__data", DATA)
    page.fill("#id_variants-0-wechat__url", LINK)
    page.check("#id_variants-1-DELETE")
    page.click("[data-testid=preview-button]")
    page.wait_for_selector("[data-testid=preview-parts]")

    assert page.inner_text("[data-testid=preview-param-thing1] td") == "Li Wei，春季新品到店"
    assert "city=Shanghai" in page.inner_text("[data-testid=preview-part-url]")
    sample = ["browser-wechat", "Li Wei", "Shanghai", "TPL-SPRING-01", "thing1", "thing2"]
    assert screen_problems(page, chinese=True, data=sample) == []

    page.fill("input[name=preview_external_id]", "wx-01")
    page.click("[data-testid=preview-button]")
    page.wait_for_selector("[data-testid=preview-param-thing1] >> text=王芳，春季新品到店")
    assert "杭州" in page.inner_text("[data-testid=preview-param-thing2]")

    page.fill("#id_variants-0-wechat__data", "thing1 = {{ nosuch }}")
    page.click("[data-testid=preview-button]")
    page.wait_for_selector("[data-testid=content-preview] .error")
    assert "模板数据 · thing1" in page.inner_text("[data-testid=content-preview]")
    page.fill("#id_variants-0-wechat__data", DATA)

    page.click("[data-testid=save-campaign]")
    page.wait_for_url(lambda url: "/campaigns/new/" not in url)
    variant = Campaign.objects.get(channel="wechat").variants.get()
    assert variant.fields["template_id"] == "TPL-SPRING-01"
    assert variant.fields["data"]["thing1"] == "{{ name }}，春季新品到店"

    page.goto(f"/campaigns/{variant.campaign.slug}/edit/?step=content")
    assert page.input_value("#id_variants-0-wechat__template_id") == "TPL-SPRING-01"
    page.click("[data-testid=composer-steps] >> text=受众")
    page.select_option("#id_channel", "email")
    assert page.is_hidden("#id_variants-0-wechat__template_id")
    assert page.console_errors == [] and page.csp_violations == []
