"""Reads about segments used by the rule engine, pages, the API and other apps."""

from collections.abc import Mapping

from segments.models import Segment


def segment_rule(slug: str) -> Mapping | None:
    """Return the rule of segment ``slug`` ({} for a static list), or None when there is none.

    This is the resolver ``segments.rules.parse_rule`` follows segment references with.
    """
    row = Segment.objects.filter(slug=slug).values_list("kind", "rule").first()
    if row is None:
        return None
    kind, rule = row
    return {} if kind == Segment.Kind.STATIC or rule is None else rule


def segments_all():
    """Return every segment, newest first."""
    return Segment.objects.order_by("-created_at")


def segment_runs(*, segment: Segment, limit: int = 200) -> list:
    """Return the segment's latest runs, oldest first (for the size-over-time chart)."""
    runs = list(segment.runs.order_by("-started_at")[:limit])
    runs.reverse()
    return runs


def segment_member_rows(*, segment: Segment):
    """Return the members' external ids and join times, in membership order (streamed)."""
    return (
        segment.memberships.order_by("pk")
        .values_list("profile__external_id", "profile__email", "since")
        .iterator(chunk_size=5000)
    )


def segment_member_count(*, segment: Segment) -> int:
    """Return how many profiles are in the segment now."""
    return segment.memberships.count()


def segment_members_page(*, segment: Segment, limit: int = 20) -> list[dict]:
    """Return the first ``limit`` members (external_id, since), earliest members first."""
    rows = segment.memberships.order_by("since", "pk").values_list("profile__external_id", "since")
    return [{"external_id": external_id, "since": since} for external_id, since in rows[:limit]]


def event_names(*, limit: int = 200) -> list[str]:
    """Return up to ``limit`` distinct event names, alphabetically (for the rule builder)."""
    from profiles.models import Event  # appended to this module: imports kept local

    names = Event.objects.order_by("name").values_list("name", flat=True).distinct()
    return list(names[:limit])


def profile_cities(*, limit: int = 500) -> list[str]:
    """Return up to ``limit`` distinct non-empty profile cities (for the rule builder)."""
    from profiles.models import Profile  # appended to this module: imports kept local

    cities = (
        Profile.objects.exclude(city="").order_by("city").values_list("city", flat=True).distinct()
    )
    return list(cities[:limit])


def profile_regions(*, limit: int = 200) -> list[str]:
    """Return up to ``limit`` distinct non-empty profile regions (for the rule builder)."""
    from profiles.models import Profile  # appended to this module: imports kept local

    regions = (
        Profile.objects.exclude(region="")
        .order_by("region")
        .values_list("region", flat=True)
        .distinct()
    )
    return list(regions[:limit])


def segment_slugs() -> list[str]:
    """Return every segment's slug, alphabetically (for the rule builder)."""
    return list(Segment.objects.order_by("slug").values_list("slug", flat=True))
