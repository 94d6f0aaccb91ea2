"""Segment operations: preview a rule (evaluation and membership come with the worker)."""

import datetime

from django.utils import timezone

from profiles.models import Profile
from segments.compiler import compile_rule
from segments.rules import parse_rule
from segments.selectors import segment_rule

PREVIEW_SAMPLE_SIZE = 10


def segment_preview(*, rule, slug: str | None = None, now: datetime.datetime | None = None) -> dict:
    """Return how many profiles satisfy ``rule`` now and the external IDs of a few of them.

    ``slug`` is the segment being edited, if any, so that a rule referring back to it is refused.
    Raise ``segments.rules.RuleError`` for an invalid rule; nothing is saved.
    """
    tree = parse_rule(rule, resolve=segment_rule, slug=slug)
    now = now or timezone.now()
    members = Profile.objects.filter(compile_rule(tree, now=now))
    sample = members.order_by("pk").values_list("external_id", flat=True)[:PREVIEW_SAMPLE_SIZE]
    return {"size": members.count(), "sample": list(sample), "as_of": now.isoformat()}
