"""In a real browser a campaign manager writes an A/B email, schedules it, and watches it send."""

import datetime
import threading

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection

from campaigns.delivery import campaign_send
from campaigns.models import Campaign, Send
from campaigns.services.audience import campaign_start
from core import roles
from profiles.services.consent import ConsentEntry, consent_record
from segments.models import Segment, SegmentMembership
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def manager_and_audience(transactional_db, settings):
    settings.CAMPAIGN_QUIET_HOURS = None
    settings.CAMPAIGN_BATCH_SIZE = 5  # several batches, so the bar moves
    Group.objects.get_or_create(name=roles.CAMPAIGN_MANAGER)  # a transactional test flushed it
    segment = Segment.objects.create(name="上海会员", slug="sh-members", kind=Segment.Kind.STATIC)
    Segment.objects.create(name="其他", slug="aaa-other", kind=Segment.Kind.STATIC)
    for n in range(30):
        profile = ProfileFactory(external_id=f"sh-{n:02d}", city="上海")
        SegmentMembership.objects.create(segment=segment, profile=profile)
        if n % 3:  # two in three have consented to email marketing
            consent_record(
                entry=ConsentEntry(
                    profile_id=profile.pk,
                    channel="email",
                    purpose="marketing",
                    status="granted",
                    source="admin",
                    reason="signed the paper form in store",
                )
            )
    return UserFactory(username="browser-campaigns", roles=[roles.CAMPAIGN_MANAGER])


def _send_in_background(slug: str) -> threading.Thread:
    """Start the campaign at its time and send it, as the beat tick and workers would."""

    def run():
        try:
            campaign = Campaign.objects.get(slug=slug)
            campaign_start(campaign_id=campaign.pk, now=campaign.send_at)
            campaign_send(campaign_id=campaign.pk, budget_seconds=60)
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_a_manager_writes_splits_schedules_and_watches_an_email_campaign(
    page, manager_and_audience
):
    page.goto("/campaigns/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", manager_and_audience.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/campaigns/")

    page.click("[data-testid=new-campaign]")
    page.fill("#id_name", "Spring A/B")
    page.select_option("#id_channel", "email")
    page.check("[data-testid=segment-row-sh-members] input[name=include_segments]")
    page.fill("#id_holdout_percent", "10")
    page.click("[data-testid=next-content]")
    page.fill("#id_variants-0-weight", "50")
    page.fill("#id_variants-0-subject", "{{ name }}, spring is here")
    page.fill("#id_variants-0-body_text", "Hello {{ name }} in {{ city }}")
    page.fill("#id_variants-1-weight", "50")
    page.fill("#id_variants-1-subject", "Spring offers for {{ name }}")
    page.fill("#id_variants-1-body_text", "Dear {{ name }}")
    page.fill("input[name=preview_external_id]", "sh-01")
    page.click("[data-testid=preview-button]")
    page.wait_for_selector("[data-testid=preview-subject]")
    assert "spring is here" in page.inner_text("[data-testid=preview-subject]")
    page.click("[data-testid=save-campaign]")
    page.wait_for_selector("[data-testid=campaign-progress]")

    campaign = Campaign.objects.get()
    assert campaign.holdout_percent == 10
    assert list(campaign.variants.values_list("key", "weight")) == [("A", 50), ("B", 50)]
    page.click("[data-testid=open-schedule]")
    send_at = datetime.datetime.now() + datetime.timedelta(days=1)
    page.fill("#id_send_at", send_at.strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#id_time_zone", "Asia/Shanghai")
    page.click("[data-testid=schedule-submit]")
    page.wait_for_selector("[data-testid=campaign-progress][data-status=scheduled]")

    sender = _send_in_background(campaign.slug)
    sender.start()
    page.wait_for_selector(
        "[data-testid=campaign-progress][data-percent='100'][data-status=sent]", timeout=60_000
    )
    sender.join(timeout=60)

    counts = {
        status: Send.objects.filter(campaign=campaign, status=status).count()
        for status in ("sent", "skipped", "holdout")
    }
    assert sum(counts.values()) == 30
    assert counts["sent"] == len(mail.outbox)
    assert counts["sent"] > 0 and counts["skipped"] > 0
    assert page.inner_text("[data-testid=count-sent]") == str(counts["sent"])
    assert page.console_errors == []
