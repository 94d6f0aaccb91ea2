"""The guards every message passes at send time, each one query per batch at most.

Consent for the campaign's channel and purpose, a valid address, no suppression of that
address, the global frequency cap (CAMPAIGN_FREQUENCY_CAP messages per profile in
CAMPAIGN_FREQUENCY_WINDOW_HOURS). Quiet hours (CAMPAIGN_QUIET_HOURS) stop no message: during
them rows wait (``not_before``) until the period ends.
"""

import datetime
import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils.translation import gettext_noop

from campaigns.channels import channel_get
from campaigns.delivery.ledger import Row
from campaigns.models import Campaign, Send, Suppression
from core.errors import coded
from profiles.services.consent import consent_sendable_ids

ERROR_QUIET_HOURS = coded(
    "send.quiet_hours",
    gettext_noop(
        "CAMPAIGN_QUIET_HOURS={value!r} is not a quiet period like 21:00-08:00 (HH:MM-HH:MM)."
    ),
)
_QUIET = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


def quiet_hours() -> tuple[datetime.time, datetime.time] | None:
    """Return CAMPAIGN_QUIET_HOURS as (start, end), or None when there are none."""
    value = (settings.CAMPAIGN_QUIET_HOURS or "").replace(" ", "")
    if not value:
        return None
    match = _QUIET.fullmatch(value)
    try:
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        start, end = datetime.time(start_h, start_m), datetime.time(end_h, end_m)
    except (AttributeError, ValueError):
        raise ImproperlyConfigured(ERROR_QUIET_HOURS.format(value=value)) from None
    if start == end:
        raise ImproperlyConfigured(ERROR_QUIET_HOURS.format(value=value))
    return start, end


def quiet_hours_end(*, now: datetime.datetime) -> datetime.datetime | None:
    """Return when the quiet period ``now`` falls in ends, or None if ``now`` is not quiet."""
    period = quiet_hours()
    if period is None:
        return None
    start, end = period
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    moment = local.time()
    if start < end:
        quiet = start <= moment < end
        day = local.date()
    else:  # crosses midnight, e.g. 21:00-08:00
        quiet = moment >= start or moment < end
        day = local.date() + datetime.timedelta(days=1 if moment >= start else 0)
    if not quiet:
        return None
    return datetime.datetime.combine(day, end, tzinfo=zone)


def address_of(channel: str, contact) -> str:
    """Return the address on ``channel`` (email, E.164 number, openid …), or "" if invalid."""
    return channel_get(channel).address(contact)


def suppressions_of(*, channel: str, addresses: set[str]):
    """Return the suppressions of these lower-case addresses on ``channel``, with ``key`` the
    address in lower case: addresses compare case-insensitively, whoever wrote the row
    (``suppression_lookup_idx``)."""
    return Suppression.objects.annotate(key=Lower("address")).filter(
        channel=channel, key__in=addresses
    )


def _suppressed(campaign: Campaign, rows: list[Row]) -> set[int]:
    suppressed = set(
        suppressions_of(
            channel=campaign.channel, addresses={row.address.lower() for row in rows}
        ).values_list("key", flat=True)
    )
    return {row.pk for row in rows if row.address.lower() in suppressed}


def _capped(rows: list[Row], now: datetime.datetime) -> set[int]:
    cap = settings.CAMPAIGN_FREQUENCY_CAP
    if not cap:
        return set()
    since = now - datetime.timedelta(hours=settings.CAMPAIGN_FREQUENCY_WINDOW_HOURS)
    counts = dict(
        Send.objects.filter(profile_id__in=[row.profile_id for row in rows], sent_at__gte=since)
        .values("profile_id")
        .annotate(n=Count("pk"))
        .values_list("profile_id", "n")
    )
    return {row.pk for row in rows if counts.get(row.profile_id, 0) >= cap}


def skip_reasons(campaign: Campaign, rows: list[Row], now: datetime.datetime) -> dict[int, str]:
    """Set each row's address; return {send id: skip reason} for the rows a guard stops."""
    reasons: dict[int, str] = {}
    spec = channel_get(campaign.channel)
    allowed = consent_sendable_ids(
        profile_ids=[row.profile_id for row in rows],
        channel=spec.consent_for(campaign),
        purpose=campaign.purpose,
    )
    for row in rows:
        row.address = spec.address(row.contact)
        if row.profile_id not in allowed:
            reasons[row.pk] = Send.SkipReason.NO_CONSENT
        elif not row.address:
            reasons[row.pk] = Send.SkipReason.NO_ADDRESS
    for guard, reason in (
        (lambda rest: _suppressed(campaign, rest), Send.SkipReason.SUPPRESSED),
        (lambda rest: _capped(rest, now), Send.SkipReason.FREQUENCY_CAP),
    ):
        rest = [row for row in rows if row.pk not in reasons]
        if rest:
            reasons.update(dict.fromkeys(guard(rest), reason))
    return reasons
