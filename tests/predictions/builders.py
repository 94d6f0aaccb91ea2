"""Rows of a finished refresh, written directly (no model is trained): runs, scores, clusters."""

import datetime
from decimal import Decimal

from django.utils import timezone

from predictions.models import AssociationRule, Cluster, Prediction, PredictionRun

CALIBRATION = [
    {"decile": d, "predicted": d / 10 - 0.05, "observed": d / 10 - 0.03, "count": 40}
    for d in range(1, 11)
]


def report(*, bgnbd_auc=0.78, supervised_auc=0.83, recency_auc=0.7, chosen="supervised"):
    """Return a report in the shape the refresh writes."""
    return {
        "sizes": {"customers": 1200, "train": 800, "held_out": 400, "refused": 7},
        "models": {
            "bgnbd": {
                "auc": bgnbd_auc,
                "lift_top_decile": 2.4,
                "calibration": CALIBRATION,
                "params": {"r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43},
                "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
            },
            "supervised": {
                "auc": supervised_auc,
                "lift_top_decile": 3.1,
                "calibration": CALIBRATION,
                "importances": [
                    {"feature": "recency_days", "importance": 0.41},
                    {"feature": "page_view_90d", "importance": 0.22},
                    {"feature": "wishlist_90d", "importance": 0.05},
                ],
            },
            "recency": {"auc": recency_auc, "lift_top_decile": 1.9, "calibration": []},
        },
        "chosen": chosen,
        "clusters": {"k": 4, "silhouettes": [{"k": 3, "score": 0.31}, {"k": 4, "score": 0.36}]},
        "rules": {
            "count": 2,
            "baskets": 950,
            "products": 24,
            "min_support": 0.01,
            "min_confidence": 0.2,
        },
        "phases": [{"name": "features", "seconds": 3.2}, {"name": "models", "seconds": 1.1}],
    }


def run(*, status=PredictionRun.Status.LIVE, days_ago=0, message="", **report_kwargs):
    """Create a finished refresh with a full report."""
    at = timezone.now() - datetime.timedelta(days=days_ago)
    chosen = report_kwargs.get("chosen", "supervised")
    failed = status == PredictionRun.Status.FAILED
    return PredictionRun.objects.create(
        status=status,
        as_of=at,
        cutoff=at - datetime.timedelta(days=90),
        chosen="" if failed else chosen,
        message=message,
        report={} if failed else report(**report_kwargs),
        scored=0 if failed else 1200,
        finished_at=at,
    )


def score(profile, *, run, churn=0.28, clv="1280.00", cluster="", recommendations=()):
    """Give ``profile`` live scores from ``run``."""
    return Prediction.objects.create(
        profile=profile,
        p_alive=0.8,
        churn_risk=churn,
        repurchase_probability_90d=round(1 - churn, 6),
        expected_purchases_90d=1.4,
        clv_365d=Decimal(clv),
        cluster=cluster,
        recommendations=list(recommendations),
        scored_at=run.as_of,
        run=run,
    )


def cluster(*, slug="loyal-big-spenders", name="Loyal big spenders", size=300, run=None):
    """Create an active cluster with a portrait."""
    return Cluster.objects.create(
        slug=slug,
        name=name,
        size=size,
        run=run,
        portrait={
            "share": 0.25,
            "size": size,
            "features": [
                {"feature": "total_spend", "cluster_mean": 5200.0, "base_mean": 1300.0,
                 "index": 400.0},
                {"feature": "recency_days", "cluster_mean": 20.0, "base_mean": 80.0,
                 "index": 25.0},
                {"feature": "add_to_cart_90d", "cluster_mean": 6.0, "base_mean": 3.0,
                 "index": 200.0},
            ],
            "tags": [
                {"tag": "coupon-lover", "share": 0.6, "base_share": 0.2, "tgi": 300.0},
                {"tag": "night-owl", "share": 0.1, "base_share": 0.1, "tgi": 100.0},
            ],
        },
    )  # fmt: skip


def association(*, run, antecedent, consequent, support=0.05, confidence=0.4, lift=2.0):
    """Create an association rule of ``run``."""
    return AssociationRule.objects.create(
        run=run,
        antecedent=list(antecedent),
        consequent=consequent,
        support=support,
        confidence=confidence,
        lift=lift,
        count=int(support * 950),
    )
