"""A worker killed with SIGKILL in the middle of a send: nobody is missed, few are sent twice.

Real parts: the database, the broker, `celery worker` processes and an aiosmtpd server in a
subprocess, slowed down a little so the kill lands in the middle of a batch. The test plays beat.
"""

import datetime
import time
from collections import Counter

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Send, Variant
from config.celery import app
from profiles.models import Profile
from profiles.services.consent import ConsentEntry, consent_record_many
from segments.models import Segment, SegmentMembership
from tests.campaigns.conftest import tick_until
from tests.conftest import wait_for

pytestmark = pytest.mark.worker

RECIPIENTS = 3000
KILL_AFTER = 1234  # messages received by the SMTP server (not a multiple of the batch size)
MARK_EVERY = 10  # the worker records sent rows after this many messages
STALE_SECONDS = 10  # the sweep re-queues rows claimed longer ago than this
WORKER_ENV = {
    "CAMPAIGN_MARK_EVERY": MARK_EVERY,
    "CAMPAIGN_CLAIM_STALE_SECONDS": STALE_SECONDS,
    "CAMPAIGN_FREQUENCY_CAP": 0,
}


def audience_make(count: int) -> Segment:
    profiles = Profile.objects.bulk_create(
        Profile(external_id=f"C{i:05d}", email=f"c{i}@example.com", name=f"用户{i}", city="上海")
        for i in range(count)
    )
    consent_record_many(
        entries=[
            ConsentEntry(
                profile_id=p.pk, channel="email", purpose="marketing", status="granted",
                source="import",
            )
            for p in profiles
        ]
    )  # fmt: skip
    segment = Segment.objects.create(name="Crash", slug="crash", kind=Segment.Kind.STATIC)
    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, profile=p) for p in profiles
    )
    return segment


def test_a_worker_killed_mid_send_leaves_one_sent_row_each_and_few_duplicates(
    smtp_sink_process, campaign_worker, capsys
):
    # Given: 3,000 profiles with consent, a campaign due now, a slightly slow SMTP server.
    started = time.monotonic()
    segment = audience_make(RECIPIENTS)
    print(f"audience {time.monotonic() - started:.1f}s")
    campaign = Campaign.objects.create(
        name="Crash", slug="crash", channel="email", status=Campaign.Status.SCHEDULED,
        send_at=timezone.now() - datetime.timedelta(seconds=1),
    )  # fmt: skip
    campaign.include_segments.add(segment)
    Variant.objects.create(
        campaign=campaign, key="A", subject="Hi {{ name }}", body_text="Hello {{ name }}"
    )
    sink = smtp_sink_process(delay=0.003)
    first = campaign_worker(sink.port, **WORKER_ENV)

    # When: the worker is killed (SIGKILL, its whole process group) a third of the way in ...
    app.send_task("campaigns.tasks.campaigns_tick_task")
    assert sink.wait_for(KILL_AFTER, timeout=120), first.log()[-3000:]
    first.kill()
    print(f"killed {time.monotonic() - started:.1f}s")
    time.sleep(0.5)  # the last flush of the sink's file
    received_at_kill = sink.count()
    in_flight = Send.objects.filter(campaign=campaign, status=Send.Status.SENDING).count()
    sent_at_kill = Send.objects.filter(campaign=campaign, status=Send.Status.SENT).count()
    # ... a new worker starts, the sweep re-queues the dead worker's rows once they are stale,
    # and the ticks send the rest.
    campaign_worker(sink.port, **WORKER_ENV)
    time.sleep(STALE_SECONDS + 1)
    app.send_task("campaigns.tasks.campaign_sends_sweep_task")

    def dead_rows_requeued():
        """the sweep to re-queue the dead worker's rows"""
        return not Send.objects.filter(campaign=campaign, status=Send.Status.SENDING).exists()

    wait_for(dead_rows_requeued, timeout=60)
    print(f"requeued {time.monotonic() - started:.1f}s")

    def campaign_sent():
        """the campaign to be marked sent"""
        return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENT).first()

    tick_until(campaign_sent)
    print(f"sent {time.monotonic() - started:.1f}s")
    time.sleep(1)  # anything sent late would arrive now

    # Then: the kill landed mid-send; every profile has one row, marked sent, exactly once ...
    assert 0 < sent_at_kill < RECIPIENTS
    assert in_flight > 0
    statuses = Counter(Send.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == {"sent": RECIPIENTS}
    # ... and the SMTP server got every address, twice only for messages in flight at the kill.
    messages = sink.messages()
    received = Counter(rcpt for message in messages for rcpt in message.rcpt_tos)
    assert set(received) == {f"c{i}@example.com" for i in range(RECIPIENTS)}
    duplicates = {address: n for address, n in received.items() if n > 1}
    with capsys.disabled():
        print(
            f"\nkill after {received_at_kill} messages received, {sent_at_kill} rows recorded "
            f"sent, {in_flight} rows claimed; sent twice: {len(duplicates)} "
            f"{sorted(duplicates)} (bound: CAMPAIGN_MARK_EVERY={MARK_EVERY})"
        )
    assert len(duplicates) <= MARK_EVERY
    assert set(duplicates.values()) <= {2}
    ids = {}
    for message in messages:  # a resent message keeps its ledger row's Message-ID
        if message.rcpt_tos[0] in duplicates:
            ids.setdefault(message.rcpt_tos[0], set()).add(message.message_id)
    assert all(len(found) == 1 for found in ids.values())
    assert len(messages) == RECIPIENTS + len(duplicates)
