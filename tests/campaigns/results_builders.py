"""Builders for results and winner tests: a started campaign with a ledger written directly."""

import datetime
from decimal import Decimal

from django.utils import timezone

from campaigns.models import Campaign, Send, TrackingEvent, Variant
from profiles.models import Event, Profile

T0 = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=datetime.UTC)


def campaign_started(
    *, slug="ab", weights=(50, 50), started_at=T0, channel="email", **fields
) -> Campaign:
    campaign = Campaign.objects.create(
        name=slug.upper(),
        slug=slug,
        channel=channel,
        status=Campaign.Status.SENDING,
        started_at=started_at,
        **fields,
    )
    for key, weight in zip("ABCDE", weights, strict=False):
        Variant.objects.create(campaign=campaign, key=key, weight=weight, subject=key)
    return campaign


def ledger_add(campaign, count, *, variant=None, status=Send.Status.SENT, sent_at=None, **fields):
    """Add ``count`` profiles and their ledger rows; return the rows (with ``profile_id``)."""
    start = Profile.objects.count()
    profiles = Profile.objects.bulk_create(
        [
            Profile(external_id=f"{campaign.slug}-{start + i}", email=f"p{start + i}@example.com")
            for i in range(count)
        ]
    )
    when = sent_at or (campaign.started_at + datetime.timedelta(hours=1))
    variant_obj = campaign.variants.get(key=variant) if variant else None
    Send.objects.bulk_create(
        [
            Send(
                campaign=campaign,
                profile=profile,
                variant=variant_obj,
                status=status,
                sent_at=when if status == Send.Status.SENT else None,
                address=profile.email,
                **fields,
            )
            for profile in profiles
        ]
    )
    return list(Send.objects.filter(campaign=campaign, profile__in=profiles).order_by("profile_id"))


def track(rows, kind, *, times=1):
    TrackingEvent.objects.bulk_create(
        [
            TrackingEvent(send=row, kind=kind, at=timezone.now())
            for row in rows
            for _ in range(times)
        ]
    )


def purchase(row, at, amount="100.00", name="purchase"):
    Event.objects.create(
        profile_id=row.profile_id,
        name=name,
        occurred_at=at,
        amount=Decimal(amount),
        key=f"{row.pk}-{at.isoformat()}-{name}-{amount}",
    )
