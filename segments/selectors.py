"""Reads about segments used by the rule engine, pages, the API and other apps."""

from collections.abc import Mapping

from django.core.paginator import Page, Paginator
from django.db.models import Case, F, IntegerField, Value, When

from segments.charts import SizePoint
from segments.models import Segment, SegmentMembership


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


def segment_size_points(*, segment: Segment, limit: int = 2000) -> list[SizePoint]:
    """Return the size after each of the latest ``limit`` runs that succeeded, oldest first."""
    rows = (
        segment.runs.filter(size__isnull=False)
        .order_by("-started_at")
        .values_list("started_at", "size")[:limit]
    )
    return [SizePoint(at, size) for at, size in reversed(rows)]


# The members table's columns people may sort by, and what each sorts on.
_TIER_RANK = Case(
    When(profile__value_tier="high", then=Value(3)),
    When(profile__value_tier="mid", then=Value(2)),
    When(profile__value_tier="mass", then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)
MEMBER_SORTS = {
    "name": F("profile__name"),
    "city": F("profile__city"),
    "tier": F("tier_rank"),
    "last_seen": F("profile__last_seen_at"),
    "since": F("since"),
}
MEMBER_SORT_DEFAULT = "since"
MEMBERS_PER_PAGE = 25


def member_sort_parse(value: str | None) -> tuple[str, bool]:
    """Return the column and whether it sorts descending from ``?sort=`` (``-city``)."""
    text = (value or "").strip()
    descending = text.startswith("-")
    column = text.lstrip("-")
    if column not in MEMBER_SORTS:
        return MEMBER_SORT_DEFAULT, False
    return column, descending


def segment_members_sorted(
    *, segment: Segment, sort: str = MEMBER_SORT_DEFAULT, descending: bool = False, page=1
) -> Page:
    """Return one page of the members with their name, contact, city, tier and last seen.

    Sorted by ``sort`` (a key of ``MEMBER_SORTS``), blanks and unknown values last, then by
    membership order so that pages never overlap.
    """
    key = MEMBER_SORTS[sort]
    order = key.desc(nulls_last=True) if descending else key.asc(nulls_last=True)
    rows = (
        SegmentMembership.objects.filter(segment=segment)
        .annotate(tier_rank=_TIER_RANK)
        .order_by(order, "pk")
        .values(
            "since",
            "profile_id",
            "profile__external_id",
            "profile__name",
            "profile__email",
            "profile__phone",
            "profile__city",
            "profile__value_tier",
            "profile__last_seen_at",
        )
    )
    paginator = Paginator(rows, MEMBERS_PER_PAGE)
    paginator.count = segment.memberships.count()  # without the profile join
    return paginator.get_page(page)


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
