"""The composer's content step for a WeChat template campaign: its parts, checks and preview."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services import workflow
from tests.campaigns.test_pages import _editor_post
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

DATA = "thing1 = {{ name }}，春季新品到店\nthing2 = {{ city }}"


def wechat_post(**overrides):
    data = {
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "0",
        "variants-0-subject": "",
        "variants-0-body_text": "",
        "variants-0-wechat__template_id": " TPL-SPRING ",
        "variants-0-wechat__data": DATA,
        "variants-0-wechat__url": "https://shop.example.com/?c={{ city }}",
    }
    return _editor_post(channel="wechat", **{**data, **overrides})


def test_a_wechat_variant_is_saved_as_its_parts(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(reverse("campaigns:create"), wechat_post())

    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.channel == "wechat"
    [variant] = campaign.variants.all()
    assert variant.fields == {
        "template_id": "TPL-SPRING",
        "data": {"thing1": "{{ name }}，春季新品到店", "thing2": "{{ city }}"},
        "url": "https://shop.example.com/?c={{ city }}",
    }
    assert variant.subject == variant.body_text == ""


def test_the_editor_shows_the_saved_parts_again(client, campaign_manager):
    client.force_login(campaign_manager)
    client.post(reverse("campaigns:create"), wechat_post())
    campaign = Campaign.objects.get()

    html = client.get(reverse("campaigns:edit", args=[campaign.slug])).content.decode()

    assert 'value="TPL-SPRING"' in html
    assert "thing2 = {{ city }}" in html


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("thing1 = {{ nosuch }}", "nosuch"),
        ("thing1 {{ name }}", "is not “name = value”"),
        ("thing 1 = x", "is not a name"),
    ],
)
def test_a_bad_data_line_is_shown_on_its_part(client, campaign_manager, data, error):
    client.force_login(campaign_manager)

    response = client.post(
        reverse("campaigns:create"), wechat_post(**{"variants-0-wechat__data": data})
    )

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_campaign_without_a_template_id_cannot_be_scheduled(client, campaign_manager):
    client.force_login(campaign_manager)
    client.post(reverse("campaigns:create"), wechat_post(**{"variants-0-wechat__template_id": ""}))
    campaign = Campaign.objects.get()

    errors = workflow._check_variants(campaign, workflow._variant_dicts(campaign), complete=True)

    assert errors == ["Variant A: Template ID: Template ID is required."]


def test_the_preview_renders_the_parts_with_sample_values(client, campaign_manager):
    client.force_login(campaign_manager)

    html = client.post(reverse("campaigns:preview"), wechat_post()).content.decode()

    assert 'data-testid="preview-part-template_id">' in html and "TPL-SPRING" in html
    assert "Li Wei，春季新品到店" in html
    assert "https://shop.example.com/?c=Shanghai" in html


def test_the_preview_renders_as_a_profile(client, campaign_manager):
    client.force_login(campaign_manager)
    ProfileFactory(external_id="C-42", name="Ada", city="杭州")

    html = client.post(
        reverse("campaigns:preview"), wechat_post(preview_external_id="C-42")
    ).content.decode()

    assert "Ada，春季新品到店" in html
    assert "杭州" in html


def test_the_preview_names_the_part_that_cannot_render(client, campaign_manager):
    client.force_login(campaign_manager)

    html = client.post(
        reverse("campaigns:preview"),
        wechat_post(**{"variants-0-wechat__data": "thing1 = {{ 1 // 0 }}"}),
    ).content.decode()

    assert "Template data · thing1" in html


def test_the_review_and_the_detail_show_the_parts_by_their_labels(client, campaign_manager):
    client.force_login(campaign_manager)
    client.post(reverse("campaigns:create"), wechat_post())
    slug = Campaign.objects.get().slug

    for name in ("campaigns:review", "campaigns:detail"):
        html = client.get(reverse(name, args=[slug])).content.decode()

        assert 'data-testid="variant-parts-A"' in html
        assert "<dt>Template ID</dt>" in html and "TPL-SPRING" in html
        assert "<code>thing2</code> {{ city }}" in html


def test_the_api_creates_a_wechat_campaign_and_checks_its_parts(campaign_manager):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_login(campaign_manager)
    variant = {"key": "A", "weight": 1, "fields": {"template_id": "T", "data": {"k": "{{ name }}"}}}

    made = api.post(
        "/api/v1/campaigns/", {"name": "WX", "channel": "wechat", "variants": [variant]}, "json"
    )
    variant["fields"]["data"] = {"k": "{{ nosuch }}"}
    refused = api.post(
        "/api/v1/campaigns/", {"name": "WX2", "channel": "wechat", "variants": [variant]}, "json"
    )

    assert made.status_code == 201
    assert made.json()["variants"][0]["fields"]["data"] == {"k": "{{ name }}"}
    assert refused.status_code == 400
    assert "Variant A: Template data · k:" in refused.json()["variants"][0]
