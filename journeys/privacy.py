"""Journeys in a data-subject export: the profile's stage and every stage it moved into."""

from journeys.models import StageTransition
from profiles.models import Profile


def profile_stages_export(*, profile: Profile) -> dict:
    """Return the current stage and the stage history, oldest first."""
    history = StageTransition.objects.filter(profile=profile).order_by("at", "pk")
    return {
        "stage": profile.stage,
        "stage_entered_at": profile.stage_entered_at,
        "history": [
            {"from_stage": row.from_stage_id, "to_stage": row.to_stage_id, "at": row.at}
            for row in history
        ],
    }
