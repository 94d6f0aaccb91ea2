"""SMS results: delivered and failed from the receipts, failures by provider code, parts."""

import pytest

from campaigns.models import Send
from campaigns.results import campaign_results
from tests.campaigns.results_builders import campaign_started, ledger_add
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def receipt(rows, delivery, code="", error="", parts=1):
    Send.objects.filter(pk__in=[row.pk for row in rows]).update(
        delivery=delivery, delivery_code=code, delivery_error=error, parts=parts
    )


@pytest.fixture
def sms_campaign():
    campaign = campaign_started(slug="sms-sale", channel="sms")
    a = ledger_add(campaign, 10, variant="A")
    b = ledger_add(campaign, 10, variant="B")
    receipt(a[:7], "delivered", "DELIVERED", parts=2)
    receipt(a[7:9], "failed", "MN:0001", "空号")
    receipt(b[:5], "delivered", "DELIVRD")
    receipt(b[5:7], "failed", "MK:0005", "关机")
    receipt(b[7:8], "failed", "MN:0001", "空号")
    receipt(b[8:9], "failed", "MN:0001", "空号")
    ledger_add(campaign, 3, variant="A", status=Send.Status.FAILED)  # never sent: not counted
    return campaign


def test_sms_results_count_delivered_failed_awaiting_and_parts_per_variant(sms_campaign):
    delivery = campaign_results(campaign=sms_campaign)["sms_delivery"]

    a, b = delivery["variants"]
    assert (a["sent"], a["delivered"], a["failed"], a["awaiting"], a["parts"]) == (10, 7, 2, 1, 16)
    assert (b["sent"], b["delivered"], b["failed"], b["awaiting"], b["parts"]) == (10, 5, 4, 1, 9)
    assert a["delivered_rate"].rate == 0.7
    assert b["failed_rate"].rate == 0.4
    total = delivery["total"]
    assert (total["sent"], total["delivered"], total["failed"], total["parts"]) == (20, 12, 6, 25)


def test_sms_failures_are_grouped_by_provider_code(sms_campaign):
    failures = campaign_results(campaign=sms_campaign)["sms_delivery"]["failures"]

    assert [(f["delivery_code"], f["description"], f["n"]) for f in failures] == [
        ("MN:0001", "空号", 4),
        ("MK:0005", "关机", 2),
    ]
    assert [round(f["share"], 3) for f in failures] == [0.667, 0.333]


def test_an_email_campaign_has_no_sms_delivery():
    campaign = campaign_started(slug="mail")

    assert campaign_results(campaign=campaign)["sms_delivery"] is None


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "en",
            ["SMS delivery", "Delivery rate", "Failures by provider code", "Awaiting a receipt"],
        ),
        ("zh-hans", ["短信送达", "送达率", "按服务商错误码统计的失败", "等待回执"]),
    ],
)
def test_the_results_page_shows_sms_delivery_in_both_languages(
    client, settings, sms_campaign, language, words
):
    settings.LANGUAGE_CODE = language
    client.force_login(UserFactory(roles=["campaign_manager"]))

    response = client.get(f"/campaigns/{sms_campaign.slug}/results/", HTTP_ACCEPT_LANGUAGE=language)

    html = response.content.decode()
    assert response.status_code == 200
    for word in words:
        assert word in html
    assert "MN:0001" in html
    assert "70.0%" in html or "70%" in html
