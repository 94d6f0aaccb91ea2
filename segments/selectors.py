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
