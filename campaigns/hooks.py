"""Hooks of campaigns for the apps above: a message was opened, clicked or delivered.

``campaigns.tracking.tracking_record`` (our open pixel and click redirects, and the provider's
webhooks) calls ``engagement_notify`` for each open, click or delivery it stores. An app above
registers from its ``AppConfig.ready()``::

    from campaigns.hooks import engagement_register

    engagement_register(on_engagement)  # on_engagement(record: EngagementRecord) -> None

``on_engagement`` runs once the tracking event's transaction has committed (``core.hooks``),
never after a rollback or for a provider event recorded already; a receiver that raises is
logged and the pixel, redirect or webhook still answers as usual.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from campaigns.models import TrackingEvent
from core.hooks import Hook

# The kinds of tracking event the hook reports (bounces and complaints are not engagement).
ENGAGEMENT_KINDS = frozenset(
    {TrackingEvent.Kind.OPEN, TrackingEvent.Kind.CLICK, TrackingEvent.Kind.DELIVERED}
)


@dataclass(frozen=True, slots=True)
class EngagementRecord:
    """An open, click or delivery of one send: ``kind`` is "open", "click" or "delivered"."""

    send_id: int
    campaign_id: int
    profile_id: int
    kind: str
    at: datetime.datetime


EngagementReceiver = Callable[[EngagementRecord], Any]

ENGAGEMENT = Hook("campaigns.engagement")


def engagement_register(receiver: EngagementReceiver) -> EngagementReceiver:
    """Call ``receiver(record)`` after each committed open, click or delivery."""
    return ENGAGEMENT.register(receiver)


def engagement_unregister(receiver: EngagementReceiver) -> None:
    """Stop calling ``receiver`` (tests, mostly)."""
    ENGAGEMENT.unregister(receiver)


def engagement_active() -> bool:
    """Return whether a receiver is registered (tracking then reads the send's ids)."""
    return ENGAGEMENT.active


def engagement_notify(record: EngagementRecord) -> None:
    """Pass ``record`` to the receivers once the current transaction commits."""
    ENGAGEMENT.notify(record)
