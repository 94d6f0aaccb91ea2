"""Campaigns in data-subject requests: the sends an export shows, the addresses erasure removes.

Erasure keeps every row of the send ledger (results, frequency caps and A/B statistics stay
true) but blanks its address and removes the person's address and number from error texts,
tracking URLs and campaign change details, and deletes the suppressions of that address or number
(the profile has none left to send to; a new address needs a new consent). A webhook receiver's
answer kept in the delivery log (its error or response excerpt) may quote the person too: it is
scrubbed wherever it does, whichever message it answered.
"""

from collections import defaultdict

from django.db.models import Q, TextField
from django.db.models.functions import Cast, Lower

from campaigns.models import CampaignChange, Send, Suppression, TrackingEvent, WebhookDelivery
from core.errors import error_text
from profiles.models import Profile
from profiles.services.retention import rows_delete_in_chunks
from profiles.services.traces import PersonalTraces


def _contains_any(traces: PersonalTraces, field: str) -> Q:
    condition = Q()
    for needle in traces.needles:
        condition |= Q(**{f"{field}__icontains": needle})
    return condition


def profile_sends_export(*, profile: Profile) -> list[dict]:
    """Return every send of the profile with its tracking events, oldest first."""
    sends = (
        Send.objects.filter(profile=profile)
        .select_related("campaign", "variant")
        .order_by("created_at", "pk")
    )
    events = defaultdict(list)
    for event in TrackingEvent.objects.filter(send__profile=profile).order_by("at", "pk"):
        events[event.send_id].append({"kind": event.kind, "url": event.url, "at": event.at})
    return [
        {
            "campaign": send.campaign.slug,
            "campaign_name": send.campaign.name,
            "channel": send.campaign.channel,
            "entry": send.entry,
            "variant": send.variant.key if send.variant else None,
            "status": send.status,
            "skip_reason": send.skip_reason,
            "address": send.address,
            "attempts": send.attempts,
            "error": error_text(send.error, translate=False),
            "queued_at": send.created_at,
            "sent_at": send.sent_at,
            "message_id": send.message_id,
            "tracking": events[send.pk],
        }
        for send in sends
    ]


def profile_sends_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Blank the profile's addresses in the send ledger and scrub what else holds them."""
    changed = Send.objects.filter(profile=profile).exclude(address="").update(address="")
    if not traces.needles:
        return changed
    errors = Send.objects.filter(profile=profile).filter(_contains_any(traces, "error"))
    for send in errors.only("pk", "error"):
        changed += Send.objects.filter(pk=send.pk).update(error=traces.scrub(send.error))
    urls = TrackingEvent.objects.filter(send__profile=profile).filter(_contains_any(traces, "url"))
    for event in urls.only("pk", "url"):
        changed += TrackingEvent.objects.filter(pk=event.pk).update(url=traces.scrub(event.url))
    suppressed = Suppression.objects.annotate(key=Lower("address"))
    changed += suppressed.filter(key__in=[a.lower() for a in traces.addresses]).delete()[0]
    changes = CampaignChange.objects.annotate(text=Cast("detail", TextField()))
    for change in changes.filter(_contains_any(traces, "text")).only("pk", "detail"):
        changed += CampaignChange.objects.filter(pk=change.pk).update(
            detail=traces.scrub_json(change.detail)
        )
    return changed


def webhook_deliveries_erase(*, profile: Profile, traces: PersonalTraces) -> int:
    """Scrub the person's address and number from the webhook delivery log's answers."""
    if not traces.needles:
        return 0
    condition = _contains_any(traces, "error") | _contains_any(traces, "response_excerpt")
    changed = 0
    for row in WebhookDelivery.objects.filter(condition).only("pk", "error", "response_excerpt"):
        changed += WebhookDelivery.objects.filter(pk=row.pk).update(
            error=traces.scrub(row.error), response_excerpt=traces.scrub(row.response_excerpt)
        )
    return changed


def tracking_purge(cutoff) -> int:
    """Delete the tracking events recorded before ``cutoff`` (the retention period's start)."""
    return rows_delete_in_chunks(TrackingEvent.objects.filter(at__lt=cutoff))
