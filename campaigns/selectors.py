"""Reads about campaigns: the list with progress, ledger counts and the delivery report."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Coalesce, TruncHour, TruncMinute
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import (
    Campaign,
    CampaignChange,
    Send,
    TrackingEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from core.errors import error_text
from profiles.models import Event

DONE_STATUSES = (
    Send.Status.SENT,
    Send.Status.FAILED,
    Send.Status.SKIPPED,
    Send.Status.HOLDOUT,
)
PROGRESS_STATUSES = (
    Send.Status.QUEUED,
    Send.Status.WAITING,
    Send.Status.SENDING,
    Send.Status.SENT,
    Send.Status.FAILED,
    Send.Status.SKIPPED,
    Send.Status.HOLDOUT,
)
RECENT_FAILURES = 20


def campaigns_listed() -> QuerySet[Campaign]:
    """Return the campaigns the lists show: all but the steps of flows (their flow shows them)."""
    return Campaign.objects.exclude(kind=Campaign.Kind.FLOW)


def campaigns_all(*, status: str = "", channel: str = "") -> QuerySet[Campaign]:
    """Return the listed campaigns, newest first, with audience, ledger size and progress."""
    campaigns = (
        campaigns_listed()
        .prefetch_related("include_segments", "exclude_segments")
        .annotate(
            ledger=Count("sends"),
            done=Count("sends", filter=Q(sends__status__in=DONE_STATUSES)),
        )
        .order_by("-created_at", "-pk")
    )
    if status:
        campaigns = campaigns.filter(status=status)
    if channel:
        campaigns = campaigns.filter(channel=channel)
    return campaigns


def campaign_status_counts(*, campaign: Campaign) -> dict:
    """Return the ledger's count per status (one grouped query), the total, done and percent."""
    counts = dict.fromkeys(PROGRESS_STATUSES, 0)
    rows = (
        Send.objects.filter(campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status, n in rows:
        counts[status] = n
    total = sum(counts.values())
    done = sum(counts[s] for s in DONE_STATUSES)
    if total:
        percent = 100 * done // total
    else:
        percent = 100 if campaign.status == Campaign.Status.SENT else 0
    return {"counts": counts, "total": total, "done": done, "percent": percent}


# Why a send was stopped (a CampaignChange "halted"; see campaigns.delivery.send).
ACTION_HALTED = "halted"
HALTED_REASON = gettext_noop(
    "Sending was stopped: {failed} of the first {tried} messages could not be made. "
    "The first error: {error}"
)


def campaign_halt_reason(*, campaign: Campaign) -> str:
    """Return why a paused campaign was stopped by its sender, or "" (paused by a person, or not
    paused)."""
    if campaign.status != Campaign.Status.PAUSED:
        return ""
    last = (
        CampaignChange.objects.filter(
            campaign=campaign, action__in=(ACTION_HALTED, "paused", "resumed")
        )
        .order_by("-at", "-id")
        .first()
    )
    if last is None or last.action != ACTION_HALTED:
        return ""
    detail = last.detail or {}
    return _(HALTED_REASON).format(
        failed=detail.get("failed", 0),
        tried=detail.get("tried", 0),
        error=error_text(detail.get("error", "")),
    )


def campaign_changes(*, campaign: Campaign, limit: int = 50) -> list[CampaignChange]:
    """Return the latest changes of a campaign with who made them."""
    return list(campaign.changes.select_related("user")[:limit])


def _bucket_size(campaign: Campaign) -> str:
    span = Send.objects.filter(campaign=campaign, sent_at__isnull=False).aggregate(
        first=Min("sent_at"), last=Max("sent_at")
    )
    if span["first"] is None:
        return "minute"
    return "minute" if span["last"] - span["first"] <= dt.timedelta(hours=3) else "hour"


def campaign_report(*, campaign: Campaign) -> dict:
    """Return the delivery report: counts by variant and status, skip reasons, failures, timing."""
    by_variant: dict[str, dict[str, int]] = {}
    columns = list(Send.Status.values)
    rows = (
        Send.objects.filter(campaign=campaign)
        .order_by()
        .values_list("variant__key", "status")
        .annotate(n=Count("pk"))
    )
    for key, status, n in rows:
        by_variant.setdefault(key or "", dict.fromkeys(columns, 0))[status] = n
    skip_labels = dict(Send.SkipReason.choices)
    skips = [
        {"reason": reason, "label": skip_labels.get(reason, reason), "n": n}
        for reason, n in Send.objects.filter(campaign=campaign, status=Send.Status.SKIPPED)
        .order_by()
        .values_list("skip_reason")
        .annotate(n=Count("pk"))
        .order_by("-n")
    ]
    failures = list(
        Send.objects.filter(campaign=campaign, status=Send.Status.FAILED)
        .select_related("profile", "variant")
        .order_by("-claimed_at", "-pk")
        .values(
            "profile_id",
            "profile__external_id",
            "variant__key",
            "address",
            "attempts",
            "error",
            "claimed_at",
        )[:RECENT_FAILURES]
    )
    size = _bucket_size(campaign)
    trunc = TruncMinute if size == "minute" else TruncHour
    timeline = [
        {"at": at, "n": n}
        for at, n in Send.objects.filter(campaign=campaign, sent_at__isnull=False)
        .annotate(at=trunc("sent_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values_list("at")
        .annotate(n=Count("pk"))
        .order_by("at")
    ]
    return {
        "columns": columns,
        "by_variant": [
            {"key": key, "cells": [counts[c] for c in columns]}
            for key, counts in sorted(by_variant.items())
        ],
        "skips": skips,
        "failures": failures,
        "timeline": timeline,
        "bucket": size,
    }


def campaigns_recent_results(*, limit: int = 5) -> list[dict]:
    """Return the results of the latest started listed campaigns as values (for the dashboard).

    Each row: ``slug``, ``name``, ``status``, ``started_at``, ``sent``, ``engagement_tracked``,
    ``clicks_tracked``,
    ``open_rate``, ``click_rate`` (None when not tracked), ``conversion_rate`` (fractions or
    None), ``lift`` (relative lift vs the holdout or None) and ``winner`` (key or "").
    Two queries per campaign.
    """
    from campaigns.results import campaign_results

    rows = []
    campaigns = campaigns_listed().filter(started_at__isnull=False).select_related("winner")
    for campaign in campaigns.order_by("-started_at", "-pk")[:limit]:
        data = campaign_results(campaign=campaign)
        totals = data["totals"]
        delivered = totals["delivered"]
        opened = data["engagement_tracked"] and delivered
        clicked = data["clicks_tracked"] and delivered
        lift = data["lift"]
        rows.append(
            {
                "slug": campaign.slug,
                "name": campaign.name,
                "status": campaign.get_status_display(),
                "started_at": campaign.started_at,
                "sent": totals["sent"],
                "engagement_tracked": data["engagement_tracked"],
                "clicks_tracked": data["clicks_tracked"],
                "open_rate": totals["opens"] / delivered if opened else None,
                "click_rate": totals["clicks"] / delivered if clicked else None,
                "conversion_rate": totals["conversions"] / totals["sent"]
                if totals["sent"]
                else None,
                "lift": lift["relative"] if lift else None,
                "winner": campaign.winner.key if campaign.winner else "",
            }
        )
    return rows


def campaigns_fingerprint() -> str:
    """Return a cheap marker that changes when campaigns, sends or tracking events are added."""
    from campaigns.models import TrackingEvent

    started = (
        campaigns_listed()
        .filter(started_at__isnull=False)
        .aggregate(last=Max("started_at"), n=Count("pk"))
    )
    if not started["n"]:
        return "none"
    sends = Send.objects.aggregate(last=Max("pk"))["last"]
    events = TrackingEvent.objects.aggregate(last=Max("pk"))["last"]
    return f"{started['n']}-{started['last'].timestamp()}-{sends}-{events}"


def engagement_by_profile(*, since: dt.datetime, until: dt.datetime) -> QuerySet:
    """Return (profile_id, opens, clicks) of the messages opened or clicked in (since, until].

    Every open and click counts (a message opened twice counts twice); the profile is the
    send's. The predictions read it as a behaviour feature.
    """
    kinds = (TrackingEvent.Kind.OPEN, TrackingEvent.Kind.CLICK)
    return (
        TrackingEvent.objects.filter(at__gt=since, at__lte=until, kind__in=kinds)
        .values("send__profile_id")
        .annotate(
            opens=Count("pk", filter=Q(kind=TrackingEvent.Kind.OPEN)),
            clicks=Count("pk", filter=Q(kind=TrackingEvent.Kind.CLICK)),
        )
        .order_by()
        .values_list("send__profile_id", "opens", "clicks")
    )


def campaign_choices(*, limit: int = 500) -> list[tuple[str, str]]:
    """Return (slug, name) of up to ``limit`` campaigns, newest first (for the rule builder)."""
    campaigns = Campaign.objects.order_by("-created_at", "-pk").values_list("slug", "name")
    return list(campaigns[:limit])


MESSAGE_HISTORY_LIMIT = 50


def profile_message_history(*, profile, limit: int = MESSAGE_HISTORY_LIMIT) -> list[Send]:
    """Return a profile's latest ledger rows (campaigns and flows), newest first, each with
    ``opened``, ``clicked`` and ``converted`` as the results count them (a click is an open;
    a conversion is a CAMPAIGN_CONVERSION_EVENT within CAMPAIGN_ATTRIBUTION_DAYS of sending)."""
    tracked = TrackingEvent.objects.filter(send=OuterRef("pk"))
    window = dt.timedelta(days=settings.CAMPAIGN_ATTRIBUTION_DAYS)
    conversions = Event.objects.filter(
        profile=OuterRef("profile_id"),
        name=settings.CAMPAIGN_CONVERSION_EVENT,
        occurred_at__gte=OuterRef("sent_at"),
        occurred_at__lt=ExpressionWrapper(
            OuterRef("sent_at") + window, output_field=DateTimeField()
        ),
    )
    return list(
        Send.objects.filter(profile=profile)
        .select_related("campaign", "variant")
        .annotate(
            at=Coalesce(F("sent_at"), F("created_at")),
            opened=Exists(
                tracked.filter(kind__in=(TrackingEvent.Kind.OPEN, TrackingEvent.Kind.CLICK))
            ),
            clicked=Exists(tracked.filter(kind=TrackingEvent.Kind.CLICK)),
            converted=Exists(conversions),
        )
        .order_by("-at", "-pk")[:limit]
    )


def profile_messages_context(profile) -> dict:
    """Return the context of the profile page's message history section."""
    return {"sends": profile_message_history(profile=profile), "limit": MESSAGE_HISTORY_LIMIT}


def webhook_endpoint_active(*, slug: str) -> WebhookEndpoint | None:
    """Return the active webhook endpoint ``slug``, or None."""
    return WebhookEndpoint.objects.filter(slug=slug, active=True).first()


def webhook_endpoint_choices() -> list[tuple[str, str]]:
    """Return the active endpoints as (slug, name), for a step or campaign to pick one."""
    return list(WebhookEndpoint.objects.filter(active=True).values_list("slug", "name"))


def webhook_deliveries_recent(*, endpoint: WebhookEndpoint, limit: int = 100) -> list:
    """Return the endpoint's latest delivery attempts, newest first."""
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")
    return list(rows[:limit])
