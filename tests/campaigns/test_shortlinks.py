"""Short links in SMS: a sent text carries /s/<code> links that count a click and redirect."""

import re

import pytest

from campaigns.delivery import campaign_send_batch
from campaigns.delivery.ledger import Row
from campaigns.delivery.render import Renderer
from campaigns.models import Campaign, Channel, Send, ShortLink, TrackingEvent, Variant
from campaigns.services.audience import campaign_start
from campaigns.shortlinks import short_code, short_code_read
from tests.campaigns.delivery_builders import (
    FakeSmsBackend,
    campaign_ready,
    profiles_make,
    segment_with,
)

pytestmark = pytest.mark.django_db
SHORT = re.compile(r"https://go\.example/s/([0-9A-Za-z-]+)")


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.SMS_BACKEND = "tests.campaigns.delivery_builders.FakeSmsBackend"
    settings.SITE_URL = "https://go.example"
    settings.SMS_SIGN_NAME = "小店"
    settings.SMS_UNSUBSCRIBE_SUFFIX = "回T退订"
    settings.CAMPAIGN_QUIET_HOURS = ""
    settings.CAMPAIGN_RATE_LIMIT_SMS = 0
    settings.CAMPAIGN_TRACKING = True
    settings.SMS_SHORT_LINKS = True
    FakeSmsBackend.outbox = []
    FakeSmsBackend.failures = {}


def sms_campaign(count, text, *, purpose="marketing"):
    profiles = profiles_make(count, channel=Channel.SMS)
    campaign = campaign_ready(
        include=[segment_with(profiles)], channel=Channel.SMS, weights=(100,), purpose=purpose
    )
    Variant.objects.filter(campaign=campaign).update(body_text=text)
    campaign_start(campaign_id=campaign.pk)
    campaign_send_batch(campaign_id=campaign.pk)
    return campaign


def test_a_marketing_sms_goes_out_with_short_links_the_suffix_and_its_parts_recorded():
    text = "{{ name }}，新品上市 https://shop.example/new?utm=sms 。再看 https://shop.example/b"

    campaign = sms_campaign(2, text)

    assert len(FakeSmsBackend.outbox) == 2
    message = FakeSmsBackend.outbox[0]
    assert "shop.example" not in message.text
    assert message.text.endswith("回T退订")
    codes = SHORT.findall(message.text)
    row = Send.objects.get(pk=int(message.reference.removeprefix("send-")))
    assert [short_code_read(code)[0] for code in codes] == [row.pk, row.pk]
    assert ShortLink.objects.filter(campaign=campaign).count() == 2  # stored once for both rows
    length = len("【小店】") + len(message.text)
    assert row.parts == (1 if length <= 70 else -(-length // 67))
    assert row.parts >= 1


def test_a_long_text_is_recorded_with_its_parts():
    sms_campaign(1, "好" * 100)

    row = Send.objects.get()
    assert FakeSmsBackend.outbox[0].text == "好" * 100 + "回T退订"
    assert row.parts == 2  # 4 + 100 + 4 = 108 code units: two parts of 67


def test_a_text_of_another_purpose_gets_no_suffix():
    campaign = Campaign.objects.create(
        name="Orders", slug="orders", channel=Channel.SMS, purpose="service"
    )
    variant = Variant.objects.create(campaign=campaign, key="A", body_text="您的订单已发货")
    row = Row(1, campaign.pk, 1, variant, 0, {}, "+8613800000000")

    message = Renderer(campaign).sms(row)

    assert message.text == "您的订单已发货"
    assert row.parts == 1


def test_following_a_short_link_records_a_click_and_redirects(client):
    sms_campaign(1, "新品 https://shop.example/new?utm=sms")
    code = SHORT.search(FakeSmsBackend.outbox[0].text).group(1)

    response = client.get(f"/s/{code}")

    assert response.status_code == 302
    assert response["Location"] == "https://shop.example/new?utm=sms"
    assert list(TrackingEvent.objects.values_list("kind", "url")) == [
        ("click", "https://shop.example/new?utm=sms")
    ]


@pytest.mark.parametrize("mangle", ["forged", "other-send", "other-campaign", "garbage"])
def test_a_code_not_made_here_is_a_404(client, mangle):
    campaign = sms_campaign(2, "新品 https://shop.example/new")
    first, second = Send.objects.filter(campaign=campaign).order_by("pk")
    link = ShortLink.objects.get()
    other = Campaign.objects.create(name="Other", slug="other", channel=Channel.SMS)
    other_link = ShortLink.objects.create(campaign=other, digest="x", url="https://evil.example")
    _send, link_part, mac = short_code(send_id=first.pk, link_id=link.pk).split("-")
    code = {
        "forged": f"{_send}-{link_part}-{mac[:-1]}{'1' if mac[-1] == '0' else '0'}",
        "other-send": f"{short_code(send_id=second.pk, link_id=link.pk).split('-')[0]}"
        f"-{link_part}-{mac}",
        "other-campaign": short_code(send_id=first.pk, link_id=other_link.pk),
        "garbage": "..%2F..%2Fx",
    }[mangle]

    response = client.get(f"/s/{code}")

    assert response.status_code == 404
    assert TrackingEvent.objects.count() == 0


def test_without_tracking_links_stay_as_written(settings):
    settings.SMS_SHORT_LINKS = False

    sms_campaign(1, "新品 https://shop.example/new")

    assert "https://shop.example/new" in FakeSmsBackend.outbox[0].text
