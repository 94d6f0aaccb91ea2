"""Time clusters_fit, baskets_rules and recommendations_rank on synthetic data at full size."""

import json
import resource
import time

import numpy as np
from django.core.management.base import BaseCommand

from predictions.affinity import baskets_matrix, baskets_rules, recommendations_rank
from predictions.clusters import clusters_fit
from tools.demo_products import CATALOGUE, CATEGORIES, COMPANION, product_id

FEATURES = [
    "recency_days",
    "tenure_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "opens",
    "clicks",
    "visits",
]


def features_draw(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Return raw RFM and engagement features from a mixture of five kinds of shopper."""
    kinds = rng.integers(0, 5, rows)
    centres = rng.uniform(0.5, 6.0, (5, len(FEATURES)))
    return np.expm1(np.maximum(rng.normal(centres[kinds], 0.6), 0)).round(2)


def purchases_draw(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (profile index, product id) per purchase, drawn as tools.demo_products does."""
    names = np.array(
        [product_id(c, p) for c in CATEGORIES for p in CATALOGUE[c]], dtype=object
    ).reshape(len(CATEGORIES), -1)
    companion = np.array([CATEGORIES.index(COMPANION[c]) for c in CATEGORIES])
    counts = 1 + rng.geometric(0.3, rows)
    profile = np.repeat(np.arange(rows), counts)
    taste = rng.integers(0, len(CATEGORIES), rows)[profile]
    roll = rng.random(len(profile))
    category = np.where(roll < 0.65, taste, companion[taste])
    rank = rng.choice(4, len(profile), p=np.array([8, 4, 2, 1]) / 15)
    best = roll >= 0.85
    category[best] = rng.integers(0, len(CATEGORIES), best.sum())
    rank[best] = 0
    return profile, names[category, rank]


def peak_mb() -> float:
    """Return this process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Command(BaseCommand):
    help = "Time the clustering and product affinity models on synthetic data; print one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=600_000)

    def handle(self, *args, rows, **options):
        rng = np.random.default_rng(0)
        features = features_draw(rng, rows)
        pairs = purchases_draw(rng, rows)
        result = {"rows": rows, "purchases": len(pairs[0]), "start_peak_mb": peak_mb()}

        started = time.perf_counter()
        fit = clusters_fit(features, FEATURES)
        result |= {"clusters_s": round(time.perf_counter() - started, 1), "k": fit.k}
        result["clusters_peak_mb"] = peak_mb()

        started = time.perf_counter()
        rules = baskets_rules(pairs, min_support=0.01, min_confidence=0.2)
        result |= {"rules_s": round(time.perf_counter() - started, 1), "rules": len(rules)}
        result["rules_peak_mb"] = peak_mb()

        bought, products = baskets_matrix(pairs)
        started = time.perf_counter()
        ranked = recommendations_rank(bought, rules, products, fit.labels)
        result["recommendations_s"] = round(time.perf_counter() - started, 1)
        result["recommended_mean"] = round(sum(map(len, ranked)) / rows, 2)
        result["recommendations_peak_mb"] = peak_mb()
        self.stdout.write(json.dumps(result))
