"""A campaign's recipients and results, and the journey funnel, export as their pages show them."""

import pytest
from django.urls import reverse

from campaigns.models import Channel, Send
from tests.campaigns.campaign_builders import campaign_make
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

EMAIL = "han.meimei@example.com"


def csv_rows(response) -> list[str]:
    return b"".join(response.streaming_content).decode("utf-8-sig").splitlines()


def test_the_recipients_export_masks_addresses_in_errors_too(client, campaign_manager):
    campaign = campaign_make()
    variant = campaign.variants.get(key="A")
    Send.objects.create(
        campaign=campaign, profile=ProfileFactory(external_id="crm-7"), variant=variant,
        status=Send.Status.FAILED, address=EMAIL, error=f"550 <{EMAIL}>: no such user",
    )  # fmt: skip
    client.force_login(campaign_manager)

    response = client.get(
        reverse("exports:table", args=["campaign-recipients", "csv"]),
        {"campaign": campaign.slug},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    rows = csv_rows(response)
    assert (
        rows[0] == "external_id,variant,in_test,status,skip_reason,address,attempts,sent_at,error"
    )
    assert rows[1] == "crm-7,A,,Failed,,h***@example.com,0,,550 <h***@example.com>: no such user"
    assert EMAIL not in "".join(rows)


def test_ops_may_read_results_but_not_export_recipients(ops_client):
    campaign = campaign_make()
    url = reverse("exports:table", args=["campaign-recipients", "csv"])

    assert ops_client.get(url, {"campaign": campaign.slug}).status_code == 403
    results = reverse("exports:table", args=["campaign-results", "csv"])
    assert ops_client.get(results, {"campaign": campaign.slug}).status_code == 200


def test_the_results_export_leaves_sms_open_rates_empty(ops_client):
    campaign = campaign_make(channel=Channel.SMS)
    Send.objects.create(
        campaign=campaign, profile=ProfileFactory(), variant=campaign.variants.get(key="A"),
        status=Send.Status.SENT, address="+8613812345678",
    )  # fmt: skip

    rows = csv_rows(
        ops_client.get(
            reverse("exports:table", args=["campaign-results", "csv"]), {"campaign": campaign.slug}
        )
    )

    assert rows[0].startswith("variant,name,weight,assigned,sent,")
    a_row = rows[1].split(",")
    assert (a_row[0], a_row[4]) == ("A", "1")
    assert a_row[-3] == ""  # the open rate: SMS opens are not tracked
    assert a_row[-2] == "0.0"  # the click rate: its short links count clicks
    assert a_row[-1] == "0.0"


def test_an_unknown_campaign_is_named_in_the_refusal(ops_client):
    response = ops_client.get(
        reverse("exports:table", args=["campaign-results", "csv"]),
        {"campaign": "nope"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    assert "No campaign has the slug “nope”." in response.content.decode()


def test_the_funnel_exports_each_stage_with_the_pages_filters(ops_client):
    ProfileFactory.create_batch(2)

    response = ops_client.get(reverse("exports:table", args=["funnel", "csv"]))
    bad = ops_client.get(
        reverse("exports:table", args=["funnel", "csv"]), {"signup_from": "not a date"}
    )

    rows = csv_rows(response)
    assert rows[0] == "stage,reached,share,conversion,median_hours"
    assert len(rows) > 1  # the default stages
    assert bad.status_code == 400
