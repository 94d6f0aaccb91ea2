"""Refresh the predictions: read histories, fit and choose the models, cluster, mine, write.

One refresh, as of ``now``, in five phases (each timed in the run's report):

1. **features**: every customer's history at the training cut-off (``now`` - 90 days) with the
   label "bought in the 90 days after it", and at ``now`` (``predictions.features``);
2. **models**: BG/NBD + Gamma-Gamma and gradient boosting are trained on the cut-off histories
   and compared on held-out customers with a recency-only baseline; the better AUC is chosen
   (``predictions.purchase``). If the chosen model does not beat recency alone, the previous
   scores stay live and the run says so;
3. **clusters**: k-means on log-scaled RFM and engagement, matched to the previous clusters so
   their slugs keep meaning the same group, each with a portrait (``predictions.clusters``);
4. **rules**: association rules over the customers' baskets and up to five recommendations each
   (``predictions.affinity``);
5. **write**: every score replaced in one transaction (``predictions.store``).

Profiles that withdrew personalised profiling get no scores, and theirs are deleted first.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from core.models import Job
from core.services import job_enqueue
from predictions import affinity, clusters
from predictions.errors import ModelError
from predictions.features import (
    Histories,
    baskets_load,
    event_kinds,
    histories_load,
    purchased_between,
    tags_load,
)
from predictions.models import Cluster, PredictionRun
from predictions.purchase import PurchaseEvaluation, purchase_evaluate, purchase_scores
from predictions.store import (
    Scores,
    clusters_store,
    rules_store,
    scores_clear_refused,
    scores_replace,
)

HORIZON_DAYS = 90
REFRESH_JOB_KIND = "predictions.refresh"
ERROR_TOO_RECENT = gettext_lazy(
    "A backtest needs the {days} days after the cut-off to have passed; they end on {end}."
)
ERROR_UNEXPECTED = gettext_lazy("The refresh stopped on an unexpected error: {error}")
MESSAGE_BELOW_BASELINE = gettext_lazy(
    "The chosen model ({model}, AUC {auc:.3f}) did not beat recency alone (AUC {baseline:.3f}) "
    "on held-out customers: the previous scores stay live."
)
Report = Callable[..., None]


class Phases:
    """Time the phases of a refresh and report each to the job's progress."""

    NAMES = ("features", "models", "clusters", "rules", "write")

    def __init__(self, report: Report | None):
        self.report = report or (lambda *args, **kwargs: None)
        self.timings: list[dict] = []

    @contextmanager
    def __call__(self, name: str):
        done = len(self.timings)
        self.report(done, len(self.NAMES), message=name, force=True)
        started = time.perf_counter()
        yield
        self.timings.append({"name": name, "seconds": round(time.perf_counter() - started, 3)})
        self.report(done + 1, len(self.NAMES), message=name, force=True)


def predictions_refresh(
    *, now: dt.datetime | None = None, job: Job | None = None, report: Report | None = None
) -> PredictionRun:
    """Refresh every customer's scores as of ``now``; return the run (its status says how)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=HORIZON_DAYS)
    run = PredictionRun.objects.create(as_of=now, cutoff=cutoff, job=job)
    phases = Phases(report)
    cleared = scores_clear_refused()
    try:
        _refresh(run, phases, now=now, cutoff=cutoff)
    except ModelError as exc:
        run.status = PredictionRun.Status.FAILED
        message_set(run, exc.message, **exc.params)
    except Exception as exc:  # a bug or a lost database: the run must not stay "running"
        run.status = PredictionRun.Status.FAILED
        message_set(run, ERROR_UNEXPECTED, error=f"{type(exc).__name__}: {exc}")
        _finish(run, phases, cleared)
        raise
    _finish(run, phases, cleared)
    return run


def _finish(run: PredictionRun, phases: Phases, cleared: int) -> None:
    run.report = {**run.report, "phases": phases.timings}
    run.report.setdefault("sizes", {})["cleared"] = cleared
    run.finished_at = timezone.now()
    run.save()


def message_set(run: PredictionRun, text, **params) -> None:
    """Record why a run kept the old scores or failed, re-translatable for each reader.

    The text and its parameters are kept in English (the message ids) in ``report["message"]``;
    ``PredictionRun.message_display`` translates them into the reader's language.
    """
    with translation.override("en"):
        plain = {k: str(v) if isinstance(v, Promise) else v for k, v in params.items()}
        run.report["message"] = {"text": str(text), "params": plain}
        run.message = str(text).format(**plain)


def _refresh(run: PredictionRun, phases: Phases, *, now: dt.datetime, cutoff: dt.datetime):
    with phases("features"):
        kinds = event_kinds()
        past = histories_load(as_of=cutoff, kinds=kinds)
        labels = purchased_between(past.profile_ids, cutoff, now)
        current = histories_load(as_of=now, kinds=kinds)
    with phases("models"):
        evaluation = purchase_evaluate(past, labels, random_state=0)
        run.chosen = evaluation.chosen
        run.report = {**evaluation.report(), "sizes": _sizes(evaluation, current)}
        if not evaluation.beats_baseline:
            run.status = PredictionRun.Status.KEPT
            summary = evaluation.summary()
            summary["model"] = PredictionRun.Chosen(summary["model"]).label
            message_set(run, MESSAGE_BELOW_BASELINE, **summary)
            return
        purchase = purchase_scores(current, evaluation)
        run.report["models"]["bgnbd"].update(purchase.report)
    with phases("clusters"):
        fit, names = _clusters(current, run)
    with phases("rules"):
        recommendations = _rules(current, fit, run, now)
    with phases("write"):
        scores = Scores(
            profile_ids=current.profile_ids,
            p_alive=purchase.p_alive,
            repurchase_probability_90d=purchase.repurchase_probability_90d,
            expected_purchases_90d=purchase.expected_purchases_90d,
            clv_365d=purchase.clv_365d,
            clusters=[names[label] for label in fit.labels.tolist()],
            recommendations=recommendations,
        )
        with transaction.atomic():
            run.scored = scores_replace(run=run, scores=scores, at=now)
            run.status = PredictionRun.Status.LIVE
            run.save(update_fields=["scored", "status"])


def _sizes(evaluation: PurchaseEvaluation, current: Histories) -> dict:
    return {**evaluation.sizes(), "customers": len(current), "refused": current.refused}


def cluster_features(histories: Histories) -> tuple[np.ndarray, list[str]]:
    """Return the raw, non-negative features customers are clustered on, and their names."""
    columns = [
        histories.recency,
        histories.x,
        histories.spend,
        histories.monetary_mean,
        histories.T,
    ]
    names = ["recency_days", "repeat_days", "total_spend", "average_order", "age_days"]
    activity = list(histories.activity_names)
    for name in [*activity[:3], "opens", "clicks"]:
        columns.append(histories.activity[:, activity.index(name)])
        names.append(name)
    return np.column_stack(columns), names


def _clusters(current: Histories, run: PredictionRun) -> tuple[clusters.ClusterFit, list[str]]:
    """Cluster the customers, keep identities, store each cluster with its portrait."""
    features, names = cluster_features(current)
    previous = [  # only centroids over the same features (the top event kinds may change)
        clusters.PreviousCluster(c.slug, c.centroid)
        for c in Cluster.objects.filter(active=True)
        if c.portrait.get("feature_names") == names
    ]
    fit = clusters.clusters_fit(
        features, names, k=settings.PREDICTIONS_CLUSTERS or None, previous=previous or None
    )
    rows, columns, tag_names = tags_load(ids=current.profile_ids)
    tags = _boolean_matrix(rows, columns, len(current), len(tag_names))
    portraits = clusters.cluster_portrait(fit.labels, features, names, tags, tag_names, k=fit.k)
    clusters_store(
        run=run,
        clusters=[
            {
                "slug": cluster.slug,
                "name": cluster.name,
                "size": cluster.size,
                "centroid": cluster.centroid_log,
                "portrait": {
                    **_portrait_json(portrait),
                    "names": _in_each_language(cluster.name),
                    "feature_names": names,
                },
            }
            for cluster, portrait in zip(fit.clusters, portraits, strict=True)
        ],
    )
    run.report["clusters"] = {
        "k": fit.k,
        "silhouettes": [{"k": k, "score": s} for k, s in sorted(fit.silhouettes.items())],
    }
    return fit, fit.slugs


def _in_each_language(text) -> dict[str, str]:
    """Return a lazy text rendered in each language of the product (a proposed cluster name)."""
    names = {}
    for code, _label in settings.LANGUAGES:
        with translation.override(code):
            names[code] = str(text)
    return names


def _portrait_json(portrait) -> dict:
    return {
        "size": portrait.size,
        "share": portrait.share,
        "features": [
            {
                "feature": f.name,
                "cluster_mean": f.mean,
                "base_mean": f.base_mean,
                "index": f.index,
                "score": f.score,
            }
            for f in portrait.features
        ],
        "tags": [
            {"tag": t.name, "share": t.share, "base_share": t.base_share, "tgi": t.index}
            for t in portrait.tags
        ],
    }


def _boolean_matrix(rows: np.ndarray, columns: np.ndarray, n: int, m: int):
    from scipy import sparse

    data = np.ones(len(rows), dtype=bool)
    matrix = sparse.csr_matrix((data, (rows, columns)), shape=(n, max(m, 0)), dtype=bool)
    matrix.sum_duplicates()
    return matrix


def _rules(current: Histories, fit, run: PredictionRun, now: dt.datetime) -> list[list[str]]:
    """Mine the rules over the customers' baskets; return each customer's recommendations."""
    rows, products = baskets_load(ids=current.profile_ids, as_of=now)
    min_support = settings.PREDICTIONS_MIN_SUPPORT
    min_confidence = settings.PREDICTIONS_MIN_CONFIDENCE
    run.report["rules"] = {
        "count": 0,
        "baskets": len(np.unique(rows)),
        "products": len(set(products.tolist())),
        "min_support": min_support,
        "min_confidence": min_confidence,
    }
    if len(rows) == 0:
        return [[] for _ in range(len(current))]
    found = affinity.baskets_rules(
        (rows, products), min_support=min_support, min_confidence=min_confidence
    )
    rules_store(run=run, rules=found)
    run.report["rules"]["count"] = len(found)
    bought, names = affinity.baskets_matrix((rows, products), rows=len(current))
    return affinity.recommendations_rank(bought, found, names, fit.labels, limit=5)


def predictions_backtest(*, cutoff: dt.datetime, now: dt.datetime | None = None) -> PredictionRun:
    """Train on the events before ``cutoff``; score against what happened in the 90 days after.

    Raises ModelError when those 90 days have not passed yet or the data cannot be fitted (the
    run is then recorded as failed with the message).
    """
    now = now or timezone.now()
    end = cutoff + dt.timedelta(days=HORIZON_DAYS)
    run = PredictionRun.objects.create(kind=PredictionRun.Kind.BACKTEST, as_of=end, cutoff=cutoff)
    phases = Phases(None)
    try:
        if end > now:
            raise ModelError(ERROR_TOO_RECENT, days=HORIZON_DAYS, end=end.date().isoformat())
        with phases("features"):
            past = histories_load(as_of=cutoff)
            labels = purchased_between(past.profile_ids, cutoff, end)
        with phases("models"):
            evaluation = purchase_evaluate(past, labels, random_state=0)
        run.chosen = evaluation.chosen
        run.report = {**evaluation.report(), "sizes": evaluation.sizes()}
        run.status = PredictionRun.Status.DONE
    except ModelError as exc:
        run.status = PredictionRun.Status.FAILED
        message_set(run, exc.message, **exc.params)
    run.report["phases"] = phases.timings
    run.finished_at = timezone.now()
    run.save()
    return run


def run_figures(run: PredictionRun) -> dict:
    """Return a run's outcome as plain JSON (the job's result and the commands' last line)."""
    models = run.report.get("models", {})
    return {
        "run": run.pk,
        "kind": run.kind,
        "status": run.status,
        "as_of": run.as_of.isoformat(),
        "cutoff": run.cutoff.isoformat(),
        "chosen": run.chosen,
        "auc": {name: figures.get("auc") for name, figures in models.items()},
        "lift_top_decile": {
            name: figures.get("lift_top_decile") for name, figures in models.items()
        },
        "scored": run.scored,
        "sizes": run.report.get("sizes", {}),
        "phases": run.report.get("phases", []),
        "message": run.message,
    }


def predictions_job(*, job: Job, report: Report) -> dict:
    """Run a refresh as a background job (the button on the model page, and beat's nightly)."""
    run = predictions_refresh(job=job, report=report)
    return run_figures(run)


def predictions_refresh_enqueue(*, user=None) -> Job:
    """Queue a refresh as a job with progress; return the job (its page follows it)."""
    return job_enqueue(kind=REFRESH_JOB_KIND, payload={}, user=user, total=len(Phases.NAMES))
