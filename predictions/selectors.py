"""Reads of the predictions: scores of profiles, the live refresh, clusters and rules."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from predictions.models import AssociationRule, Cluster, Prediction, PredictionRun

SCORE_NAMES = (
    "p_alive",
    "churn_risk",
    "repurchase_probability_90d",
    "expected_purchases_90d",
    "clv_365d",
    "cluster",
    "recommendations",
    "scored_at",
)


def scores_of(profile_ids: Sequence[int], field: str) -> dict[int, object]:
    """Return {profile id: value of score ``field``} for the scored ones of ``profile_ids``."""
    rows = Prediction.objects.filter(profile_id__in=list(profile_ids))
    return dict(rows.values_list("profile_id", field))


def run_live() -> PredictionRun | None:
    """Return the refresh whose scores are in use, if any."""
    return PredictionRun.objects.filter(status=PredictionRun.Status.LIVE).first()


def runs_recent(*, limit: int = 50) -> QuerySet[PredictionRun]:
    """Return the latest refreshes and backtests, newest first."""
    return PredictionRun.objects.all()[:limit]


def clusters_active() -> QuerySet[Cluster]:
    """Return the clusters of the live model, largest first."""
    return Cluster.objects.filter(active=True)


def rules_of(*, run: PredictionRun | None) -> QuerySet[AssociationRule]:
    """Return the association rules of ``run`` (none without a run), strongest first."""
    if run is None:
        return AssociationRule.objects.none()
    return AssociationRule.objects.filter(run=run)
