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
