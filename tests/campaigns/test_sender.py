"""The sender address is checked wherever a campaign or a flow's send step is saved."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.models import Campaign
from campaigns.services.sender import ERROR_BAD_FROM, from_email_check
from campaigns.services.workflow import campaign_create
from flows.definition import FlowError
from flows.services import flow_create
from tests.campaigns.campaign_builders import segment_make
from tests.flows.helpers import definition, email_step

BAD = [
    "not an address",
    "news@",
    "@shop.example",
    "<news@shop.example",
    "News <news@shop.example>, other@shop.example",
    "news@shop.example\r\nBcc: all@shop.example",
    "news\x00@shop.example",
    "news@shop..example",
]
GOOD = [
    "",
    "news@shop.example",
    "News <news@shop.example>",
    '"Shop, Inc." <news@shop.example>',
    "上海商店 <news@shop.example>",
]


@pytest.mark.parametrize("value", BAD)
def test_a_bad_sender_is_refused(value):
    assert from_email_check(value) == ERROR_BAD_FROM


@pytest.mark.parametrize("value", GOOD)
def test_an_address_or_a_named_address_is_accepted(value):
    assert from_email_check(value) is None


@pytest.mark.django_db
def test_saving_a_campaign_with_a_bad_sender_is_refused_under_from_email(campaign_manager):
    data = {"name": "Spring", "channel": "email", "from_email": "not an address"}

    with pytest.raises(ValidationError) as caught:
        campaign_create(data=data, user=campaign_manager)

    assert caught.value.message_dict == {"from_email": [ERROR_BAD_FROM]}
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_a_bad_sender_with_a_400(campaign_manager):
    client = APIClient()
    client.force_login(campaign_manager)

    response = client.post(
        "/api/v1/campaigns/",
        {"name": "Spring", "channel": "email", "from_email": "news@"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["from_email"] == [ERROR_BAD_FROM]
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_the_editor_shows_a_bad_sender_beside_its_field(client, campaign_manager):
    client.force_login(campaign_manager)
    data = {
        "name": "Spring",
        "channel": "email",
        "purpose": "marketing",
        "kind": "one_off",
        "include_segments": [segment_make().pk],
        "holdout_percent": "0",
        "winner_mode": "none",
        "test_percent": "20",
        "winner_delay_hours": "24",
        "winner_metric": "clicks",
        "winner_fallback": "first",
        "from_email": "not an address",
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "0",
        "variants-0-key": "A",
        "variants-0-weight": "50",
        "variants-0-subject": "Hi",
        "variants-0-body_text": "Hello",
    }

    response = client.post(reverse("campaigns:create"), data)

    assert response.status_code == 400
    assert response.context["form"].errors["from_email"] == [ERROR_BAD_FROM]
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_a_flow_send_step_with_a_bad_sender_is_refused_at_its_place():
    step = email_step(from_email="news@")

    with pytest.raises(FlowError) as caught:
        flow_create(name="Cart", slug="cart", definition=definition([step]))

    assert ("steps[0].from_email", ERROR_BAD_FROM) in [
        (place, str(message)) for place, message in caught.value.errors
    ]
