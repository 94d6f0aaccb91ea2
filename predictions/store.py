"""Write what a refresh produced: the scores (set-based), the clusters and the rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db import transaction

from core.bulk import BulkWriter
from predictions.models import (
    SCORE_NAMES,
    AssociationRule,
    Cluster,
    Prediction,
    PredictionRun,
)
from profiles.services.consent import profiling_refused_ids

SCORE_FIELDS = ("profile_id", *SCORE_NAMES, "run_id")


@dataclass(frozen=True)
class Scores:
    """The scores of every customer, one array position per profile."""

    profile_ids: np.ndarray
    p_alive: np.ndarray
    repurchase_probability_90d: np.ndarray
    expected_purchases_90d: np.ndarray
    clv_365d: np.ndarray
    clusters: Sequence[str]
    recommendations: Sequence[list[str]]

    def rows(self, *, run: PredictionRun, at: dt.datetime) -> Iterable[tuple]:
        """Yield one row per profile in ``SCORE_FIELDS`` order, every number in its range."""
        p_alive = _probability(self.p_alive)
        repurchase = _probability(self.repurchase_probability_90d)
        expected = _non_negative(self.expected_purchases_90d)
        clv = _non_negative(self.clv_365d)
        for i, profile_id in enumerate(self.profile_ids.tolist()):
            yield (
                profile_id,
                p_alive[i],
                round(1.0 - repurchase[i], 6),
                repurchase[i],
                expected[i],
                Decimal(f"{min(clv[i], 1e11):.2f}"),
                self.clusters[i],
                list(self.recommendations[i]),
                at,
                run.pk,
            )


def _probability(values: np.ndarray) -> list[float]:
    clean = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(clean, 0.0, 1.0), 6).tolist()


def _non_negative(values: np.ndarray) -> list[float]:
    clean = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.round(np.maximum(clean, 0.0), 6).tolist()


def scores_replace(*, run: PredictionRun, scores: Scores, at: dt.datetime) -> int:
    """Replace every live score with ``scores`` in one transaction; return how many."""
    with transaction.atomic():
        Prediction.objects.all().delete()
        with BulkWriter(Prediction, SCORE_FIELDS) as writer:
            writer.extend(scores.rows(run=run, at=at))
        PredictionRun.objects.filter(status=PredictionRun.Status.LIVE).exclude(pk=run.pk).update(
            status=PredictionRun.Status.REPLACED
        )
    return writer.written


def scores_clear_refused() -> int:
    """Delete the scores of profiles that withdrew personalised profiling; return how many."""
    deleted, _by_model = Prediction.objects.filter(profile_id__in=profiling_refused_ids()).delete()
    return deleted


def clusters_store(*, run: PredictionRun, clusters: Sequence[dict]) -> None:
    """Keep each fitted cluster under its slug; a name people gave is never overwritten.

    Each item has ``slug``, ``name`` (proposed), ``size``, ``centroid`` and ``portrait``.
    Clusters of earlier refreshes that this one did not keep become inactive.
    """
    slugs = [cluster["slug"] for cluster in clusters]
    existing = {c.slug: c for c in Cluster.objects.filter(slug__in=slugs)}
    for item in clusters:
        cluster = existing.get(item["slug"]) or Cluster(slug=item["slug"])
        if not cluster.named_by_people:
            cluster.name = str(item["name"])[:100]
        cluster.size = item["size"]
        cluster.centroid = item["centroid"]
        cluster.portrait = item["portrait"]
        cluster.active = True
        cluster.run = run
        cluster.save()
    Cluster.objects.exclude(slug__in=slugs).update(active=False, size=0)


def cluster_rename(*, cluster: Cluster, name: str) -> Cluster:
    """Give ``cluster`` a name chosen by people; refreshes keep it from now on."""
    cluster.name = name.strip()[:100]
    cluster.named_by_people = True
    cluster.save(update_fields=["name", "named_by_people"])
    return cluster


def rules_store(*, run: PredictionRun, rules: Sequence) -> int:
    """Store the association rules of ``run`` (objects with the rule's fields)."""
    AssociationRule.objects.bulk_create(
        AssociationRule(
            run=run,
            antecedent=list(rule.antecedent),
            consequent=rule.consequent,
            support=float(rule.support),
            confidence=float(rule.confidence),
            lift=float(rule.lift),
            count=int(rule.count),
        )
        for rule in rules
    )
    return len(rules)
