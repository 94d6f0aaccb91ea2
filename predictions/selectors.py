"""Reads of the predictions: scores of profiles, the live refresh, clusters and rules."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast

from predictions.models import AssociationRule, Cluster, Prediction, PredictionRun


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


# The screens: one refresh, a profile's scores, the churn × value matrix, rules with filters. -----


def run_get(*, pk: int) -> PredictionRun:
    """Return refresh ``pk`` or raise PredictionRun.DoesNotExist."""
    return PredictionRun.objects.select_related("job").get(pk=pk)


def run_shown() -> PredictionRun | None:
    """Return the refresh the model page opens on: the live one, else the latest refresh."""
    return run_live() or PredictionRun.objects.filter(kind=PredictionRun.Kind.REFRESH).first()


def run_running() -> PredictionRun | None:
    """Return the refresh under way, if any."""
    return PredictionRun.objects.filter(status=PredictionRun.Status.RUNNING).first()


def cluster_get(*, slug: str) -> Cluster:
    """Return the cluster ``slug`` or raise Cluster.DoesNotExist."""
    return Cluster.objects.get(slug=slug)


def cluster_names() -> dict[str, str]:
    """Return {slug: name} of every cluster."""
    return dict(Cluster.objects.values_list("slug", "name"))


def profile_prediction(*, profile) -> dict:
    """Return the profile's scores and cluster, or why it has none.

    ``reason`` is one of ``refused`` (profiling withdrawn), ``no_purchase``, ``no_refresh``
    (no live refresh yet) and ``not_scored`` (it bought after the live refresh); None when scored.
    """
    from profiles.services.consent import profiling_refused_ids

    prediction = Prediction.objects.filter(profile=profile).select_related("run").first()
    if prediction is not None:
        cluster = Cluster.objects.filter(slug=prediction.cluster).first()
        return {"prediction": prediction, "cluster": cluster, "reason": None}
    if profiling_refused_ids().filter(profile_id=profile.pk).exists():
        reason = "refused"
    elif not profile.events.filter(name="purchase").exists():
        reason = "no_purchase"
    elif run_live() is None:
        reason = "no_refresh"
    else:
        reason = "not_scored"
    return {"prediction": None, "cluster": None, "reason": reason}


CHURN_BOUNDS = (0.3, 0.7)


def predictions_fingerprint() -> str:
    """Return what changes when the live scores change: the live refresh and the scored count."""
    live = run_live()
    return f"{live.pk if live else 0}-{Prediction.objects.count()}"


def churn_value_matrix() -> dict:
    """Count the scored profiles by churn-risk band (rows) and CLV tertile (columns).

    The tertile bounds are the CLV at a third and two thirds of the profiles sorted by CLV (two
    index lookups); a cell holds ``bounds[i-1] <= clv < bounds[i]``, so the counts and the rule
    a cell links to select the same profiles.
    """
    scores = Prediction.objects.all()
    total = scores.count()
    if not total:
        return {"total": 0, "clv_bounds": [], "cells": []}
    by_clv = scores.order_by("clv_365d").values_list("clv_365d", flat=True)
    clv_bounds = [float(by_clv[total * i // 3]) for i in (1, 2)]
    churn_ranges = _ranges(CHURN_BOUNDS)
    clv_ranges = _ranges(clv_bounds)
    counts = scores.aggregate(
        **{
            f"c{row}_{col}": Count(
                "pk", filter=_between("churn_risk", churn) & _between("clv_365d", clv)
            )
            for row, churn in enumerate(churn_ranges)
            for col, clv in enumerate(clv_ranges)
        }
    )
    cells = [[counts[f"c{row}_{col}"] for col in range(3)] for row in range(3)]
    return {"total": total, "clv_bounds": clv_bounds, "cells": cells}


def _ranges(bounds) -> list[tuple]:
    return list(itertools.pairwise([None, *bounds, None]))


def _between(field: str, bounds: tuple) -> Q:
    low, high = bounds
    condition = Q()
    if low is not None:
        condition &= Q(**{f"{field}__gte": low})
    if high is not None:
        condition &= Q(**{f"{field}__lt": high})
    return condition


def matrix_cell_rule(*, field_bounds: dict[str, tuple]) -> dict:
    """Return the segment rule selecting ``low <= field < high`` for each field (None: open)."""
    conditions = []
    for field, (low, high) in field_bounds.items():
        if low is not None:
            conditions.append({"attr": field, "op": "gte", "value": low})
        if high is not None:
            conditions.append({"attr": field, "op": "lt", "value": high})
    return {"all": conditions}


def rules_filtered(
    *,
    run: PredictionRun | None,
    product: str = "",
    min_support: float | None = None,
    min_confidence: float | None = None,
    min_lift: float | None = None,
) -> QuerySet[AssociationRule]:
    """Return the rules of ``run`` naming ``product`` (either side) above the given minimums."""
    rules = rules_of(run=run)
    if product:
        # JSON text may hold the product \u-escaped (SQLite) or as is (PostgreSQL).
        escaped = json.dumps(product)[1:-1]
        rules = rules.annotate(antecedent_text=Cast("antecedent", TextField())).filter(
            Q(consequent__icontains=product)
            | Q(antecedent_text__icontains=product)
            | Q(antecedent_text__icontains=escaped)
        )
    for field, minimum in (
        ("support", min_support),
        ("confidence", min_confidence),
        ("lift", min_lift),
    ):
        if minimum is not None:
            rules = rules.filter(**{f"{field}__gte": minimum})
    return rules
