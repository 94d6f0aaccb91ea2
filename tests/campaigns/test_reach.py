"""The reachable audience on the review equals hand-written SQL and what the send records."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.delivery import campaign_send
from campaigns.models import Send, Suppression
from campaigns.reach import campaign_reach
from campaigns.services.audience import campaign_start
from tests.campaigns.delivery_builders import campaign_ready, profiles_make, segment_with
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(settings):
    """An audience in which each guard stops someone, and one excluded segment."""
    settings.CAMPAIGN_QUIET_HOURS = None
    settings.CAMPAIGN_FREQUENCY_CAP = 1
    settings.CAMPAIGN_FREQUENCY_WINDOW_HOURS = 24
    reachable = profiles_make(40)
    no_consent = profiles_make(6, consent=False)
    no_address = profiles_make(5, email="")
    suppressed = profiles_make(4)
    capped = profiles_make(4)
    excluded = profiles_make(3)
    for index, profile in enumerate(suppressed):
        address = profile.email.upper() if index % 2 else profile.email  # any case is one address
        Suppression.objects.create(channel="email", address=address, reason="hard_bounce")
    earlier = campaign_ready(include=[segment_with(capped, slug="earlier")], slug="earlier")
    Send.objects.bulk_create(
        Send(campaign=earlier, profile=p, status="sent", sent_at=timezone.now()) for p in capped
    )
    ProfileFactory.create_batch(5)  # in no segment: not in the audience
    everyone = reachable + no_consent + no_address + suppressed + capped + excluded
    campaign = campaign_ready(
        include=[segment_with(everyone)],
        exclude=[segment_with(excluded, slug="left-out")],
        holdout_percent=20,
        status="draft",
        send_at=None,
    )
    return campaign


def _sql_count(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


MEMBERS = """
    SELECT p.id FROM profiles_profile p
    WHERE EXISTS (SELECT 1 FROM segments_segmentmembership m
                  JOIN campaigns_campaign_include_segments i ON i.segment_id = m.segment_id
                  WHERE m.profile_id = p.id AND i.campaign_id = %s)
      AND NOT EXISTS (SELECT 1 FROM segments_segmentmembership m
                      JOIN campaigns_campaign_exclude_segments x ON x.segment_id = m.segment_id
                      WHERE m.profile_id = p.id AND x.campaign_id = %s)
"""
NOT_HOLDOUT = """
    AND NOT EXISTS (SELECT 1 FROM campaigns_send h
                    WHERE h.campaign_id = %s AND h.profile_id = p.id AND h.status = 'holdout')
"""
CONSENTED = """
    AND EXISTS (SELECT 1 FROM profiles_consentstate c WHERE c.profile_id = p.id
                AND c.channel = 'email' AND c.purpose = 'marketing' AND c.status = 'granted')
"""
ADDRESSED = " AND p.email <> '' "
NOT_SUPPRESSED = """
    AND NOT EXISTS (SELECT 1 FROM campaigns_suppression s
                    WHERE s.channel = 'email' AND lower(s.address) = lower(p.email))
"""
CAPPED = """
    AND (SELECT count(*) FROM campaigns_send f WHERE f.profile_id = p.id
         AND f.sent_at >= %s AND f.campaign_id <> %s) >= 1
"""


def _by_sql(campaign_id: int, since: datetime.datetime) -> dict:
    """Count each step by hand; the holdout is read from the ledger the start wrote."""
    ids = [campaign_id, campaign_id]
    members = f"SELECT count(*) FROM ({MEMBERS}) q"
    base = MEMBERS + NOT_HOLDOUT
    rest = [*ids, campaign_id]
    return {
        "members": _sql_count(members, ids),
        "holdout": _sql_count(members, ids) - _sql_count(f"SELECT count(*) FROM ({base}) q", rest),
        "no_consent": _sql_count(
            f"SELECT count(*) FROM ({base} AND NOT EXISTS (SELECT 1 FROM profiles_consentstate c "
            "WHERE c.profile_id = p.id AND c.channel = 'email' AND c.purpose = 'marketing' "
            "AND c.status = 'granted')) q",
            rest,
        ),
        "no_address": _sql_count(
            f"SELECT count(*) FROM ({base} {CONSENTED} AND p.email = '') q", rest
        ),
        "suppressed": _sql_count(
            f"SELECT count(*) FROM ({base} {CONSENTED} {ADDRESSED} AND EXISTS (SELECT 1 FROM "
            "campaigns_suppression s WHERE s.channel = 'email' "
            "AND lower(s.address) = lower(p.email))) q",
            rest,
        ),
        "frequency_cap": _sql_count(
            f"SELECT count(*) FROM ({base} {CONSENTED} {ADDRESSED} {NOT_SUPPRESSED} {CAPPED}) q",
            [*rest, since, campaign_id],
        ),
    }


def test_the_reachable_audience_equals_hand_written_sql_and_the_ledger_after_the_send(guarded):
    campaign = guarded
    since = timezone.now() - datetime.timedelta(hours=24)

    reach = campaign_reach(campaign=campaign)
    campaign.status, campaign.send_at = "scheduled", timezone.now()
    campaign.save()
    campaign_start(campaign_id=campaign.pk)
    campaign_send(campaign_id=campaign.pk, budget_seconds=60)

    shown = {"members": reach.members, **{key: count for key, _label, count in reach.steps()}}
    ledger = Send.objects.filter(campaign=campaign)
    recorded = {
        "members": ledger.count(),
        "holdout": ledger.filter(status="holdout").count(),
        **{
            reason: ledger.filter(status="skipped", skip_reason=reason).count()
            for reason in ("no_consent", "no_address", "suppressed", "frequency_cap")
        },
    }
    assert shown == _by_sql(campaign.pk, since)
    assert shown == recorded
    assert reach.reachable == ledger.filter(status="sent").count()
    assert reach.members == 59 and 0 < reach.holdout < reach.members
    assert all(reach.stopped.values())  # every guard stopped someone: the test can tell them apart
