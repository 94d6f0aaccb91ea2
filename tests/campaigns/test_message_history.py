"""The 360° profile page lists the messages a profile was sent, with their engagement."""

import datetime

import pytest
from django.utils import timezone

from campaigns.models import Send, TrackingEvent
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tests.factories import PurchaseFactory

pytestmark = pytest.mark.django_db


def test_the_profile_page_shows_each_send_with_variant_status_engagement_and_local_time(
    ops_client, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"
    (profile,) = profiles_make(1)
    segment = segment_with([profile])
    spring = campaign_ready(include=[segment], slug="spring")
    autumn = campaign_ready(include=[segment], slug="autumn")
    sent_at = datetime.datetime(2025, 3, 1, 1, 30, tzinfo=datetime.UTC)  # 09:30 in Shanghai
    opened = Send.objects.create(
        campaign=spring, profile=profile, variant=spring.variants.get(key="B"),
        status="sent", sent_at=sent_at,
    )  # fmt: skip
    TrackingEvent.objects.create(send=opened, kind="click")
    PurchaseFactory(profile=profile, occurred_at=sent_at + datetime.timedelta(days=2))
    Send.objects.create(
        campaign=autumn, profile=profile, status="skipped", skip_reason="frequency_cap"
    )

    html = ops_client.get(f"/profiles/{profile.external_id}/").content.decode()

    spring_row = html.split('data-testid="message-spring"')[1].split("</tr>")[0]
    autumn_row = html.split('data-testid="message-autumn"')[1].split("</tr>")[0]
    assert "2025-03-01 09:30" in spring_row and "B" in spring_row
    assert spring_row.count(">Yes<") == 3  # opened (a click is an open), clicked, converted
    assert "Frequency cap reached" in autumn_row and ">Yes<" not in autumn_row
    assert html.index('data-testid="message-autumn"') < html.index('data-testid="message-spring"')


def test_a_send_without_engagement_says_no(ops_client):
    (profile,) = profiles_make(1)
    campaign = campaign_ready(include=[segment_with([profile])])
    Send.objects.create(campaign=campaign, profile=profile, status="sent", sent_at=timezone.now())

    html = ops_client.get(f"/profiles/{profile.external_id}/").content.decode()

    row = html.split(f'data-testid="message-{campaign.slug}"')[1].split("</tr>")[0]
    assert row.count(">No<") == 3
