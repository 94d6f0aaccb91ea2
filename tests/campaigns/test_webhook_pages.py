"""The webhook endpoint pages: every role reads, campaign managers create, edit, disable, rotate."""

import pytest
from django.urls import reverse

from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.services.webhooks import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint():
    return webhook_endpoint_create(
        name="CRM", url="https://crm.example.com/in", consent_channel="email"
    )


def _form(**changes) -> dict:
    return {
        "name": "Partner app",
        "url": "https://partner.example.com/hooks",
        "consent_channel": "sms",
        "timeout_seconds": "7",
        **changes,
    }


def test_a_campaign_manager_creates_an_endpoint_and_sees_its_secret(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(reverse("campaigns:webhook-create"), _form())

    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("campaigns:webhook", args=[endpoint.slug])
    assert (endpoint.name, endpoint.consent_channel, endpoint.timeout_seconds) == (
        "Partner app",
        "sms",
        7,
    )
    assert endpoint.created_by == campaign_manager
    page = client.get(response.url).content.decode()
    assert endpoint.secret in page


def test_a_bad_address_is_refused_with_a_message_on_the_field(client, campaign_manager):
    client.force_login(campaign_manager)

    response = client.post(reverse("campaigns:webhook-create"), _form(url="ftp://x.example"))

    assert response.status_code == 200
    assert 'data-testid="field-error-url"' in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_campaign_manager_edits_disables_and_enables_an_endpoint(
    client, campaign_manager, endpoint
):
    client.force_login(campaign_manager)

    client.post(reverse("campaigns:webhook-edit", args=[endpoint.slug]), _form(name="CRM 2"))
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.url) == ("CRM 2", "https://partner.example.com/hooks")

    client.post(reverse("campaigns:webhook-active", args=[endpoint.slug]), {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active

    client.post(reverse("campaigns:webhook-active", args=[endpoint.slug]), {"active": "1"})
    endpoint.refresh_from_db()
    assert endpoint.active


def test_rotating_the_secret_makes_a_new_one(client, campaign_manager, endpoint):
    client.force_login(campaign_manager)
    before = endpoint.secret

    client.post(reverse("campaigns:webhook-rotate", args=[endpoint.slug]))

    endpoint.refresh_from_db()
    assert endpoint.secret != before


def test_the_endpoint_page_shows_its_delivery_log_newest_first(client, ops_user, endpoint):
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        source="campaign",
        delivery_id="campaign:1",
        status_code=500,
        error='{"code": "webhook.status", "message": "The receiver answered HTTP {status}.", '
        '"params": {"status": 500}}',
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        source="flow",
        delivery_id="flow:3:hook",
        status_code=200,
        source_label="Cart · hook",
        response_excerpt="accepted",
    )
    client.force_login(ops_user)

    page = client.get(reverse("campaigns:webhook", args=[endpoint.slug])).content.decode()

    assert page.index("flow:3:hook") < page.index("campaign:1")
    assert "The receiver answered HTTP 500." in page
    assert "accepted" in page
    assert endpoint.secret not in page  # an ops user reads, but not the secret


def test_an_ops_user_reads_but_cannot_change(client, ops_user, endpoint):
    client.force_login(ops_user)

    listed = client.get(reverse("campaigns:webhooks"))
    created = client.post(reverse("campaigns:webhook-create"), _form())
    disabled = client.post(reverse("campaigns:webhook-active", args=[endpoint.slug]))

    assert listed.status_code == 200
    assert "CRM" in listed.content.decode()
    assert (created.status_code, disabled.status_code) == (403, 403)
    endpoint.refresh_from_db()
    assert endpoint.active


def test_an_outsider_sees_nothing(client, outsider, endpoint):
    client.force_login(outsider)

    assert client.get(reverse("campaigns:webhooks")).status_code == 403
    assert client.get(reverse("campaigns:webhook", args=[endpoint.slug])).status_code == 403


def test_an_endpoint_named_new_does_not_hide_the_create_page(campaign_manager):
    endpoint = webhook_endpoint_create(name="New", url="https://x.example", consent_channel="email")

    assert endpoint.slug != "new"


def test_a_campaign_named_webhooks_does_not_hide_the_endpoints_page():
    from campaigns.services.workflow import campaign_create

    campaign = campaign_create(data={"name": "Webhooks", "channel": "email"}, user=None)

    assert campaign.slug == "webhooks-2"
