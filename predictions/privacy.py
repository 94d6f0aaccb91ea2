"""Predictions in a data-subject export: the profile's live scores, cluster and recommendations."""

from predictions.models import Prediction
from profiles.models import Profile


def profile_scores_export(*, profile: Profile) -> dict | None:
    """Return the profile's live scores, or None when it has none."""
    row = Prediction.objects.filter(profile=profile).first()
    if row is None:
        return None
    return {
        "p_alive": row.p_alive,
        "churn_risk": row.churn_risk,
        "repurchase_probability_90d": row.repurchase_probability_90d,
        "expected_purchases_90d": row.expected_purchases_90d,
        "clv_365d": row.clv_365d,
        "cluster": row.cluster,
        "recommendations": row.recommendations,
        "scored_at": row.scored_at,
    }
