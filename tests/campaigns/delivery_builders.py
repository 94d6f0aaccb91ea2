"""Builders for the delivery tests: an audience in a segment, consents, a ready campaign."""

import datetime
import threading

from django.utils import timezone

from campaigns.models import Campaign, Channel, Variant
from campaigns.sms import SmsResult
from profiles.services.consent import ConsentEntry, consent_record_many
from segments.models import Segment, SegmentMembership
from tests.factories import ProfileFactory


def segment_with(profiles, slug="buyers") -> Segment:
    segment, _created = Segment.objects.get_or_create(
        slug=slug, defaults={"name": slug, "kind": Segment.Kind.STATIC}
    )
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, profile=profile) for profile in profiles],
        ignore_conflicts=True,
    )
    return segment


def consent_set(profiles, *, channel=Channel.EMAIL, status="granted"):
    consent_record_many(
        entries=[
            ConsentEntry(
                profile_id=profile.pk,
                channel=channel,
                purpose="marketing",
                status=status,
                source="import",
            )
            for profile in profiles
        ]
    )


def profiles_make(count, *, consent=True, channel=Channel.EMAIL, **fields):
    profiles = ProfileFactory.create_batch(count, **fields)
    if channel == Channel.SMS and "phone" not in fields:
        for index, profile in enumerate(profiles):
            profile.phone = f"+86138{profile.pk:04d}{index:04d}"
            profile.save(update_fields=["phone"])
    if consent:
        consent_set(profiles, channel=channel)
    return profiles


def campaign_ready(
    *,
    include=(),
    exclude=(),
    channel=Channel.EMAIL,
    weights=(50, 50),
    status=Campaign.Status.SCHEDULED,
    slug="spring",
    **fields,
) -> Campaign:
    fields.setdefault("send_at", timezone.now() - datetime.timedelta(minutes=1))
    campaign = Campaign.objects.create(
        name=slug.title(), slug=slug, channel=channel, status=status, **fields
    )
    campaign.include_segments.add(*include)
    campaign.exclude_segments.add(*exclude)
    for key, weight in zip("ABCDEFG", weights, strict=False):
        Variant.objects.create(
            campaign=campaign,
            key=key,
            weight=weight,
            subject=f"{key}: hello {{{{ name }}}}" if channel == Channel.EMAIL else "",
            body_text=f"{key}: hi {{{{ name }}}} from {{{{ city }}}}",
            body_html=f"<p>{key}: hi {{{{ name }}}}</p>" if channel == Channel.EMAIL else "",
        )
    return campaign


class FakeSmsBackend:
    """The SMS gateway, faked (the edge of the world): keeps messages, fails listed numbers."""

    outbox: list = []
    failures: dict = {}
    _lock = threading.Lock()

    def __init__(self, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        results = []
        with self._lock:
            for message in messages:
                failure = self.failures.get(message.to)
                if failure is not None:
                    results.append(failure)
                    continue
                self.outbox.append(message)
                results.append(
                    SmsResult(ok=True, permanent=False, provider_id=f"fake-{message.reference}")
                )
        return results
