"""Small builders for campaign tests of the workflow, screens and API."""

import datetime

from django.utils import timezone

from campaigns.models import Campaign, Channel, Variant
from segments.models import Segment


def segment_make(slug="shanghai", name="上海用户"):
    return Segment.objects.get_or_create(
        slug=slug, defaults={"name": name, "kind": Segment.Kind.STATIC}
    )[0]


def campaign_make(*, status=Campaign.Status.DRAFT, channel=Channel.EMAIL, segment=True, **fields):
    campaign = Campaign.objects.create(
        name=fields.pop("name", "Spring sale"),
        slug=fields.pop("slug", "spring-sale"),
        channel=channel,
        status=status,
        **fields,
    )
    if segment:
        campaign.include_segments.add(segment_make())
    Variant.objects.create(
        campaign=campaign,
        key="A",
        weight=50,
        subject="Hello {{ name }}" if channel == Channel.EMAIL else "",
        body_text="Hi {{ name }} in {{ city }}",
    )
    Variant.objects.create(
        campaign=campaign,
        key="B",
        weight=50,
        subject="Hi {{ name }}" if channel == Channel.EMAIL else "",
        body_text="Dear {{ name }}",
    )
    return campaign


def in_an_hour():
    return timezone.now() + datetime.timedelta(hours=1)
