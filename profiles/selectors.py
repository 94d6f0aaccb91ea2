"""Reads about profiles and events used by pages, the API and other apps."""

from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from profiles.models import Event, Profile


def profile_totals(*, days: int = 30) -> dict[str, int]:
    """Return the number of profiles, new ones and active ones over the last ``days`` days."""
    since = timezone.now() - timedelta(days=days)
    return Profile.objects.aggregate(
        total=Count("pk"),
        new=Count("pk", filter=Q(signup_at__gte=since)),
        active=Count("pk", filter=Q(last_seen_at__gte=since)),
    )


def events_per_day(*, days: int = 30) -> list[dict]:
    """Return event counts per local day and touchpoint over the last ``days`` days."""
    since = timezone.now() - timedelta(days=days)
    return list(
        Event.objects.filter(occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "channel")
        .annotate(n=Count("pk"))
        .order_by("day", "channel")
    )


def profile_page(
    *, query: str = "", city: str = "", tier: str = "", after: int | None = None, size: int = 50
) -> tuple[list[Profile], int | None]:
    """Return one keyset page of profiles (newest first) and the cursor of the next page."""
    profiles = Profile.objects.order_by("-pk")
    if query:
        profiles = profiles.filter(
            Q(external_id=query)
            | Q(email__iexact=query)
            | Q(phone=query)
            | Q(name__icontains=query)
        )
    if city:
        profiles = profiles.filter(city=city)
    if tier:
        profiles = profiles.filter(value_tier=tier)
    if after is not None:
        profiles = profiles.filter(pk__lt=after)
    page = list(profiles[: size + 1])
    next_cursor = page[size - 1].pk if len(page) > size else None
    return page[:size], next_cursor


def profile_detail(*, external_id: str) -> Profile:
    """Return one profile with its tags loaded, or raise Profile.DoesNotExist."""
    return Profile.objects.prefetch_related("profile_tags__tag__category").get(
        external_id=external_id
    )


def profile_recent_events(*, profile: Profile, limit: int = 50) -> list[Event]:
    """Return the profile's most recent events, newest first."""
    return list(profile.events.order_by("-occurred_at")[:limit])
