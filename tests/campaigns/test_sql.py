"""campaigns.sql: each database-specific statement, run on the database of this run (the CI
runs the suite on SQLite and on PostgreSQL)."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.delivery import sends_claim
from campaigns.models import Send
from campaigns.services.audience import campaign_start
from campaigns.sql import ledger_analyze, sends_mark_sent
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with

pytestmark = pytest.mark.django_db


def test_sends_mark_sent_marks_only_the_rows_the_batch_still_holds():
    campaign = campaign_ready(include=[segment_with(profiles_make(3))])
    campaign_start(campaign_id=campaign.pk)
    batch = sends_claim(campaign_id=campaign.pk, now=timezone.now(), limit=2)
    mine = list(Send.objects.filter(batch=batch).order_by("pk"))
    other = Send.objects.exclude(batch=batch).get()
    Send.objects.filter(pk=mine[1].pk).update(status=Send.Status.QUEUED)  # taken back meanwhile
    at = timezone.now().replace(microsecond=0) - datetime.timedelta(minutes=1)

    sends_mark_sent(
        batch=batch,
        rows=[
            (mine[0].pk, at, "<a@shop.example>", "a@example.com", 1, 2),
            (mine[1].pk, at, "<b@shop.example>", "b@example.com", 1, 0),
            (other.pk, at, "<c@shop.example>", "c@example.com", 1, 0),
        ],
    )

    sent = Send.objects.get(pk=mine[0].pk)
    assert (sent.status, sent.sent_at, sent.message_id) == ("sent", at, "<a@shop.example>")
    assert (sent.address, sent.attempts, sent.error, sent.parts) == ("a@example.com", 1, "", 2)
    assert Send.objects.get(pk=mine[1].pk).status == Send.Status.QUEUED
    assert Send.objects.get(pk=other.pk).status == Send.Status.QUEUED
    sends_mark_sent(batch=batch, rows=[])  # nothing to do: no statement


def test_ledger_analyze_gives_the_planner_statistics():
    campaign = campaign_ready(include=[segment_with(profiles_make(3))])
    campaign_start(campaign_id=campaign.pk)

    ledger_analyze()

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE relname = %s", [Send._meta.db_table]
            )
        else:
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [Send._meta.db_table])
        found = cursor.fetchall()
    assert found  # the ledger's statistics exist
    if connection.vendor == "postgresql":
        assert found[0][0] == 3
