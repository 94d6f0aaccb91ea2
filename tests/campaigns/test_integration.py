"""A scheduled A/B email campaign, sent by a real Celery worker to a real SMTP server.

Real parts: the database (PostgreSQL on CI), the broker (Redis on CI), a `celery worker` process
and an aiosmtpd server on loopback. The test plays beat: it sends the tick task now and then.
"""

import datetime
import re
import time
from collections import Counter

import pytest
from django.utils import timezone

from campaigns.delivery import campaigns_tick
from campaigns.models import Campaign, Send, Variant
from campaigns.services.audience import BUCKETS, assignment_bucket
from profiles.models import Profile
from profiles.services.consent import ConsentEntry, consent_record_many
from profiles.services.consent_links import consent_token_read
from segments.models import Segment, SegmentMembership
from segments.services import segment_evaluate
from tests.campaigns.conftest import tick_until

pytestmark = pytest.mark.worker

HOLDOUT_PERCENT = 10


def profiles_make(prefix: str, count: int, *, city: str) -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(
            external_id=f"{prefix}{i:03d}",
            email=f"{prefix.lower()}{i}@example.com",
            name=f"{prefix}-用户{i}",
            city=city,
            signup_at=timezone.now() - datetime.timedelta(days=10),
        )
        for i in range(count)
    )


def consent(profiles, status: str) -> None:
    consent_record_many(
        entries=[
            ConsentEntry(
                profile_id=p.pk, channel="email", purpose="marketing", status=status,
                source="web_form",
            )
            for p in profiles
        ]
    )  # fmt: skip


def rule_segment(slug: str, rule: dict) -> Segment:
    segment = Segment.objects.create(name=slug, slug=slug, kind=Segment.Kind.DYNAMIC, rule=rule)
    segment_evaluate(segment_id=segment.pk)
    return segment


def test_a_scheduled_ab_campaign_reaches_each_eligible_profile_once_over_smtp(
    smtp_server, campaign_worker
):
    # Given: Shanghai profiles with email consent (the audience), some without consent, some who
    # withdrew, some in an excluded segment, and Beijing profiles with consent (not in it).
    eligible = profiles_make("SH", 60, city="上海")
    never_asked = profiles_make("NA", 6, city="上海")
    withdrew = profiles_make("WD", 4, city="上海")
    excluded = profiles_make("EX", 5, city="上海")
    elsewhere = profiles_make("BJ", 5, city="北京")
    consent(eligible + withdrew + excluded + elsewhere, "granted")
    consent(withdrew, "withdrawn")
    shanghai = rule_segment("shanghai", {"all": [{"attr": "city", "op": "eq", "value": "上海"}]})
    vips = Segment.objects.create(name="VIPs", slug="vips", kind=Segment.Kind.STATIC)
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=vips, profile=profile) for profile in excluded
    )
    send_at = timezone.now() + datetime.timedelta(seconds=4)
    campaign = Campaign.objects.create(
        name="Spring", slug="spring", channel="email", status=Campaign.Status.SCHEDULED,
        send_at=send_at, holdout_percent=HOLDOUT_PERCENT, from_email="Ops <ops@shop.example>",
    )  # fmt: skip
    campaign.include_segments.add(shanghai)
    campaign.exclude_segments.add(vips)
    for key in "AB":
        Variant.objects.create(
            campaign=campaign, key=key, weight=50, subject=f"{key}: 你好 {{{{ name }}}}",
            body_text=f"{key}: hi {{{{ name }}}} in {{{{ city }}}}\n{{{{ unsubscribe_url }}}}",
            body_html=f"<p>{key}: hi {{{{ name }}}}</p>",
        )  # fmt: skip
    holdout_end = HOLDOUT_PERCENT * BUCKETS // 100
    in_holdout = {
        p.pk for p in eligible + never_asked + withdrew
        if assignment_bucket(campaign_id=campaign.pk, profile_id=p.pk) < holdout_end
    }  # fmt: skip
    expected = {p.email: p for p in eligible if p.pk not in in_holdout}
    campaign_worker(smtp_server.port)

    # When: a tick before the campaign's time starts nothing; ticks after it start and send it.
    assert campaigns_tick(now=send_at - datetime.timedelta(seconds=1))["started"] == []
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED
    while timezone.now() < send_at:
        time.sleep(0.2)

    def campaign_sent():
        """the campaign to be marked sent"""
        return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENT).first()

    done = tick_until(campaign_sent)
    smtp_server.wait_for(len(expected), timeout=10)
    time.sleep(1)  # anything sent twice or late would arrive now

    # Then: exactly one message per eligible profile outside the holdout, and nothing else.
    messages = smtp_server.messages
    recipients = Counter(rcpt for m in messages for rcpt in m.rcpt_tos)
    assert 0 < len(in_holdout & {p.pk for p in eligible}) < len(eligible)
    assert set(recipients) == set(expected)
    assert all(count == 1 for count in recipients.values()), recipients.most_common(3)
    assert done.started_at >= send_at
    sends = {s.profile_id: s for s in Send.objects.filter(campaign=campaign)}
    statuses = Counter(s.status for s in sends.values())
    no_consent = {p.pk for p in never_asked + withdrew} - in_holdout
    assert statuses == {
        "sent": len(expected),
        "holdout": len(in_holdout),
        "skipped": len(no_consent),
    }
    skipped = {pk for pk, s in sends.items() if s.status == "skipped"}
    assert skipped == no_consent
    assert {pk for pk, s in sends.items() if s.status == "holdout"} == in_holdout
    assert {sends[pk].skip_reason for pk in skipped} == {"no_consent"}
    assert not {p.pk for p in excluded + elsewhere} & set(sends)
    # ... personalised per variant, with unsubscribe headers and the ledger row's Message-ID.
    variants = {v.pk: v.key for v in campaign.variants.all()}
    message_ids = set()
    for message in messages:
        profile = expected[message.rcpt_tos[0]]
        send = sends[profile.pk]
        key = variants[send.variant_id]
        assert message.headers["subject"] == f"{key}: 你好 {profile.name}"
        assert f"{key}: hi {profile.name} in 上海" in message.text
        assert f"<p>{key}: hi {profile.name}</p>" in message.html
        assert message.headers["to"] == profile.email
        assert message.message_id == send.message_id
        message_ids.add(message.message_id)
        assert message.headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        url = re.search(r"<(https?://[^>]+)>", message.headers["list-unsubscribe"]).group(1)
        assert url in message.text
        token = url.rstrip("/").rsplit("/", 1)[1]
        link = consent_token_read(token)
        assert (link.profile_id, link.channel, link.purpose) == (profile.pk, "email", "marketing")
    assert len(message_ids) == len(messages)
    assert set(Counter(variants[sends[p.pk].variant_id] for p in expected.values())) == {"A", "B"}
