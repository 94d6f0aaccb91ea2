"""Segments in a data-subject export: the segments a profile is in, and when it entered or left."""

from profiles.models import Profile
from segments.models import SegmentMembership, SegmentTransition


def profile_segments_export(*, profile: Profile) -> dict:
    """Return the profile's current memberships and its entries and exits, oldest first."""
    memberships = (
        SegmentMembership.objects.filter(profile=profile)
        .select_related("segment")
        .order_by("since", "pk")
    )
    transitions = (
        SegmentTransition.objects.filter(profile=profile)
        .select_related("segment")
        .order_by("at", "pk")
    )
    return {
        "memberships": [
            {
                "segment": row.segment.slug,
                "name": row.segment.name,
                "since": row.since,
                "version_added": row.version_added,
            }
            for row in memberships
        ],
        "transitions": [
            {
                "segment": row.segment.slug,
                "entered": row.entered,
                "version": row.version,
                "at": row.at,
            }
            for row in transitions
        ],
    }
