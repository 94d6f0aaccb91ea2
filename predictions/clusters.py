"""Cluster profiles by k-means on log-scaled features, keep their identities, portray each."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy, pgettext_lazy
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from predictions.errors import ModelError

K_RANGE = range(3, 9)  # k tried when none is set, best silhouette wins (ties: the smaller k)
FIT_SAMPLE = 20_000  # rows k-means is fitted on; everyone is then given the nearest centroid
SILHOUETTE_SAMPLE = 3_000  # rows the silhouette is measured on (it is quadratic in rows)
# A new cluster inherits an old slug only when the old centroid is nearest to it among the new
# centroids (it lies in the new cluster's cell) and is at most this far from it, in units of the
# base's standard deviation (Euclidean, both centroids standardised with the new fit's scaler).
MATCH_MAX_DISTANCE = 1.0
WORD_MIN_SCORE = 0.5  # a feature names a cluster when its mean is this many std away from base
TAG_MIN_SHARE = 0.05  # a tag is a top tag of a cluster only when this share of it carries it

ERR_SHAPE = "features must be a 2-D array with one column per feature name"
ERR_VALUES = gettext_lazy(
    "The clustering features must be finite and non-negative (counts, days, amounts)."
)
ERR_EMPTY = gettext_lazy("There are no customers to cluster.")
ERR_FEW_ROWS = gettext_lazy(
    "Only {rows} customers have distinct features; {k} clusters need at least {k}."
)
ERR_K = "k must be an integer of at least 2"
ERR_PREVIOUS = "previous centroids have {old} features; this fit has {new}"
ERR_LABELS = "labels must be a 1-D array of non-negative cluster indexes, one per row"
ERR_TAGS = "tags must have one row per profile and one column per tag name"

# feature -> (slug when high, label when high, slug when low, label when low); the order of this
# table is the order of the words in a slug ("loyal-big-spenders", "new-low-value").
FEATURE_WORDS = {
    "recency_days": (
        "lapsed",
        pgettext_lazy("cluster", "lapsed"),
        "recent",
        pgettext_lazy("cluster", "recent"),
    ),
    "tenure_days": (
        "long-standing",
        pgettext_lazy("cluster", "long-standing"),
        "new",
        pgettext_lazy("cluster", "new"),
    ),
    "frequency": (
        "loyal",
        pgettext_lazy("cluster", "loyal"),
        "one-off",
        pgettext_lazy("cluster", "one-off"),
    ),
    "engagement": (
        "engaged",
        pgettext_lazy("cluster", "engaged"),
        "quiet",
        pgettext_lazy("cluster", "quiet"),
    ),
    "avg_order_value": (
        "big-basket",
        pgettext_lazy("cluster", "big-basket"),
        "small-basket",
        pgettext_lazy("cluster", "small-basket"),
    ),
    "monetary": (
        "big-spenders",
        pgettext_lazy("cluster", "big spenders"),
        "low-value",
        pgettext_lazy("cluster", "low value"),
    ),
}
# other names the feature SQL may use for the same notions
FEATURE_ALIASES = {
    "recency": "recency_days",
    "days_since_last_purchase": "recency_days",
    "tenure": "tenure_days",
    "days_since_first_purchase": "tenure_days",
    "orders": "frequency",
    "purchases": "frequency",
    "spend": "monetary",
    "revenue": "monetary",
    "aov": "avg_order_value",
    "opens": "engagement",
    "clicks": "engagement",
    "visits": "engagement",
    "sessions": "engagement",
    "repeat_days": "frequency",
    "total_spend": "monetary",
    "average_order": "avg_order_value",
    "age_days": "tenure_days",
}
ACTIVITY_NAME = re.compile(r".+_\d+d$")  # "page_view_90d": how often it happened lately
TYPICAL = ("typical", pgettext_lazy("cluster", "typical"))


class PreviousCluster(NamedTuple):
    """A cluster of the prior refresh: its slug and its centroid in log1p space (unstandardised)."""

    slug: str
    centroid_log: list[float]


@dataclass(frozen=True)
class FeatureIndex:
    """How one feature's mean in a cluster compares with the whole base."""

    name: str
    mean: float  # raw mean in the cluster
    base_mean: float  # raw mean in the base
    index: float  # mean / base_mean x 100 (100 when the base mean is 0)
    score: float  # cluster mean of the standardised log1p feature: std away from the base


@dataclass(frozen=True)
class TagIndex:
    """How often a cluster carries one tag compared with the whole base (TGI)."""

    name: str
    count: int
    share: float  # share of the cluster carrying the tag
    base_share: float  # share of the base carrying the tag
    index: float  # share / base_share x 100


@dataclass(frozen=True)
class Portrait:
    """What sets one cluster apart from the base."""

    cluster: int
    size: int
    share: float
    features: list[FeatureIndex]  # most distinguishing first (largest |score|)
    tags: list[TagIndex]  # highest index first; only tags someone in the base carries

    @property
    def top_features(self) -> list[str]:
        """Return the names of the features at least WORD_MIN_SCORE std away from the base."""
        return [f.name for f in self.features if abs(f.score) >= WORD_MIN_SCORE]

    @property
    def top_tags(self) -> list[str]:
        """Return the names of over-represented tags carried by at least TAG_MIN_SHARE of it."""
        return [t.name for t in self.tags if t.index > 100 and t.share >= TAG_MIN_SHARE]

    def as_dict(self) -> dict:
        """Return the portrait as plain JSON-storable values."""
        return asdict(self) | {"top_features": self.top_features, "top_tags": self.top_tags}


@dataclass(frozen=True)
class Cluster:
    """One cluster of a fit: a stable slug, a proposed name and its centroid."""

    slug: str
    name: object  # a lazy translatable label proposed from the portrait; people may rename it
    size: int
    centroid: list[float]  # standardised space of this fit
    centroid_log: list[float]  # log1p space: what the next refresh matches against
    matched: bool  # the slug was carried over from the previous refresh
    portrait: Portrait


@dataclass
class ClusterFit:
    """The result of clusters_fit: each row's cluster, the clusters and how they were chosen."""

    feature_names: list[str]
    labels: np.ndarray  # (n,) int32: index into clusters
    clusters: list[Cluster]  # largest first
    mean: list[float]  # scaler: mean of log1p(features)
    scale: list[float]  # scaler: std of log1p(features), 1 where the feature is constant
    silhouettes: dict[int, float] = field(default_factory=dict)  # k -> silhouette (sampled)

    @property
    def k(self) -> int:
        """Return the number of clusters."""
        return len(self.clusters)

    @property
    def slugs(self) -> list[str]:
        """Return the slug of each cluster, in label order."""
        return [c.slug for c in self.clusters]

    def previous(self) -> list[PreviousCluster]:
        """Return what the next refresh needs to keep these identities."""
        return [PreviousCluster(c.slug, c.centroid_log) for c in self.clusters]

    def assign(self, features: np.ndarray) -> np.ndarray:
        """Return the index of the nearest cluster of each row of raw features."""
        z = _standardise(_checked(features, len(self.feature_names)), self.mean, self.scale)
        centroids = np.array([c.centroid for c in self.clusters])
        return _nearest(z, centroids)


def clusters_fit(
    features: np.ndarray,
    feature_names: list[str],
    *,
    k: int | None = None,
    previous: list[PreviousCluster] | None = None,
    random_state: int = 0,
    sample_size: int = SILHOUETTE_SAMPLE,
    fit_sample: int = FIT_SAMPLE,
) -> ClusterFit:
    """Cluster rows of raw non-negative features; keep the slugs of ``previous`` that persist.

    Features are log1p-scaled and standardised; k-means is fitted on ``fit_sample`` rows and
    everyone is assigned to the nearest centroid. Without ``k``, each k of K_RANGE is tried and
    the best silhouette (on ``sample_size`` rows) wins. Raises ModelError when there are fewer
    distinct rows than clusters.
    """
    raw = _checked(features, len(feature_names))
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
            raise ValueError(ERR_K)
        k = int(k)
    logged = np.log1p(raw)
    mean, scale = logged.mean(axis=0), logged.std(axis=0)
    scale[scale == 0] = 1.0
    z = (logged - mean) / scale
    rng = np.random.default_rng(random_state)
    sample = z[rng.choice(len(z), fit_sample, replace=False)] if len(z) > fit_sample else z
    candidates = _k_candidates(sample, k)
    models, silhouettes = {}, {}
    for candidate in candidates:
        models[candidate] = KMeans(candidate, n_init=3, random_state=random_state).fit(sample)
        score = _silhouette(sample, models[candidate].labels_, sample_size, random_state)
        if score is not None:
            silhouettes[candidate] = score
    best = max(silhouettes, key=lambda c: (silhouettes[c], -c)) if silhouettes else candidates[0]
    centroids = models[best].cluster_centers_
    labels = _nearest(z, centroids)
    order = np.argsort(-np.bincount(labels, minlength=best), kind="stable")
    centroids, labels = centroids[order], np.argsort(order)[labels].astype(np.int32)
    portraits = cluster_portrait(labels, raw, feature_names, k=best)
    clusters = _clusters_named(centroids, mean, scale, portraits, previous or [])
    return ClusterFit(
        feature_names=list(feature_names),
        labels=labels,
        clusters=clusters,
        mean=[float(v) for v in mean],
        scale=[float(v) for v in scale],
        silhouettes=silhouettes,
    )


def _checked(features: np.ndarray, width: int) -> np.ndarray:
    """Return features as a float64 array, refusing bad shapes and values."""
    raw = np.asarray(features, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != width or width == 0:
        raise ValueError(ERR_SHAPE)
    if len(raw) == 0:
        raise ModelError(ERR_EMPTY)
    if not np.isfinite(raw).all() or (raw < 0).any():
        raise ModelError(ERR_VALUES)
    return raw


def _standardise(raw: np.ndarray, mean, scale) -> np.ndarray:
    """Return log1p(raw) standardised with the given scaler."""
    return (np.log1p(raw) - np.asarray(mean)) / np.asarray(scale)


def _nearest(z: np.ndarray, centroids: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Return the index of the nearest centroid of each row, in chunks to bound memory."""
    out = np.empty(len(z), dtype=np.int32)
    for start in range(0, len(z), chunk):
        out[start : start + chunk] = cdist(z[start : start + chunk], centroids).argmin(axis=1)
    return out


def _k_candidates(sample: np.ndarray, k: int | None) -> list[int]:
    """Return the k values to try, refusing data with fewer distinct rows than clusters."""
    distinct = len(np.unique(sample, axis=0))
    needed = k if k is not None else K_RANGE[0]
    if distinct < needed:
        raise ModelError(ERR_FEW_ROWS, rows=distinct, k=needed)
    if k is not None:
        return [k]
    return [c for c in K_RANGE if c <= distinct]


def _silhouette(sample: np.ndarray, labels: np.ndarray, size: int, seed: int) -> float | None:
    """Return the silhouette of a labelling on at most ``size`` rows, None when undefined."""
    rows = np.random.default_rng(seed).permutation(len(sample))[:size]
    found = len(np.unique(labels[rows]))
    if found < 2 or found > len(rows) - 1:
        return None
    return float(silhouette_score(sample[rows], labels[rows]))


def _clusters_named(centroids, mean, scale, portraits, previous) -> list[Cluster]:
    """Return clusters with slugs kept from ``previous`` where they match, new ones elsewhere."""
    centroid_log = centroids * scale + mean
    kept = clusters_match(centroid_log, previous, mean, scale)
    taken = {p.slug for p in previous}
    clusters = []
    for index, portrait in enumerate(portraits):
        slug, name = portrait_slug_name(portrait)
        if index in kept:
            slug = kept[index]
        else:
            slug = _unique(slug, taken)
            taken.add(slug)
        clusters.append(
            Cluster(
                slug=slug,
                name=name,
                size=portrait.size,
                centroid=[float(v) for v in centroids[index]],
                centroid_log=[float(v) for v in centroid_log[index]],
                matched=index in kept,
                portrait=portrait,
            )
        )
    return clusters


def clusters_match(centroid_log: np.ndarray, previous: list[PreviousCluster], mean, scale) -> dict:
    """Return {new cluster index: old slug} for the new centroids that keep an old identity.

    Both sets of log1p centroids are standardised with the new scaler. A pair (old, new) may
    match only when the new centroid is the one nearest the old and within MATCH_MAX_DISTANCE;
    linear_sum_assignment then pairs them one to one at the least total distance.
    """
    if not previous:
        return {}
    old_log = np.array([p.centroid_log for p in previous], dtype=np.float64)
    if old_log.ndim != 2 or old_log.shape[1] != centroid_log.shape[1]:
        raise ValueError(ERR_PREVIOUS.format(old=old_log.shape[-1], new=centroid_log.shape[1]))
    scale = np.asarray(scale)
    distances = cdist((old_log - mean) / scale, (centroid_log - mean) / scale)
    nearest = distances == distances.min(axis=1, keepdims=True)
    allowed = nearest & (distances <= MATCH_MAX_DISTANCE)
    cost = np.where(allowed, distances, MATCH_MAX_DISTANCE * len(distances) * 10 + 1)
    return {
        int(new): previous[old].slug
        for old, new in zip(*linear_sum_assignment(cost), strict=True)
        if allowed[old, new]
    }


def _unique(slug: str, taken: set[str]) -> str:
    """Return slug, or slug-2, slug-3 … whichever is not taken yet."""
    candidate, number = slug, 1
    while candidate in taken:
        number += 1
        candidate = f"{slug}-{number}"
    return candidate


def portrait_slug_name(portrait: Portrait) -> tuple[str, object]:
    """Return an ASCII slug and a translatable name from the two most distinctive features.

    Only features at least WORD_MIN_SCORE std away from the base count; a cluster with none is
    "typical". Features without a word in FEATURE_WORDS are named "high-<name>"/"low-<name>".
    """
    order = list(FEATURE_WORDS)
    words = []
    for feature in portrait.features:
        if abs(feature.score) < WORD_MIN_SCORE or len(words) == 2:
            continue
        word = _feature_word(feature.name, feature.score > 0)
        if word[0] not in {w[1][0] for w in words}:
            key = _feature_key(feature.name)
            words.append((order.index(key) if key in order else len(order), word))
    if not words:
        return TYPICAL
    words.sort(key=lambda w: w[0])
    slug = "-".join(w[1][0] for w in words)
    if len(words) == 1:
        return slug, words[0][1][1]
    return slug, format_lazy(
        pgettext_lazy("cluster", "{first} {second}"), first=words[0][1][1], second=words[1][1][1]
    )


def _feature_key(name: str) -> str:
    """Return the FEATURE_WORDS key a feature name stands for (itself when none)."""
    if name in FEATURE_ALIASES:
        return FEATURE_ALIASES[name]
    return "engagement" if ACTIVITY_NAME.fullmatch(name) else name


def _feature_word(name: str, high: bool) -> tuple[str, object]:
    """Return the (slug word, label) describing a feature being high or low."""
    words = FEATURE_WORDS.get(_feature_key(name))
    if words:
        return (words[0], words[1]) if high else (words[2], words[3])
    ascii_name = "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-")
    ascii_name = ascii_name or "feature"
    if high:
        return f"high-{ascii_name}", format_lazy(
            pgettext_lazy("cluster", "high {feature}"), feature=name
        )
    return f"low-{ascii_name}", format_lazy(pgettext_lazy("cluster", "low {feature}"), feature=name)


def cluster_portrait(
    labels: np.ndarray,
    features: np.ndarray,
    feature_names: list[str],
    tags=None,
    tag_names: list[str] | None = None,
    *,
    k: int | None = None,
) -> list[Portrait]:
    """Return one Portrait per cluster index 0..k-1: size, share, feature indexes and tag TGIs.

    ``tags`` is a boolean (sparse or dense) matrix, one row per profile and one column per
    tag name, or None. ``k`` defaults to the largest label + 1.
    """
    raw = _checked(features, len(feature_names))
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(raw) or (labels < 0).any():
        raise ValueError(ERR_LABELS)
    k = int(labels.max()) + 1 if k is None else k
    sizes = np.bincount(labels, minlength=k)
    feature_rows = _feature_indexes(labels, raw, feature_names, sizes)
    tag_rows = _tag_indexes(labels, tags, tag_names or [], sizes)
    return [
        Portrait(
            cluster=c,
            size=int(sizes[c]),
            share=float(sizes[c] / len(raw)),
            features=feature_rows[c],
            tags=tag_rows[c],
        )
        for c in range(k)
    ]


def _feature_indexes(labels, raw, names, sizes) -> list[list[FeatureIndex]]:
    """Return, per cluster, each feature's mean against the base, most distinctive first."""
    logged = np.log1p(raw)
    base_mean, log_mean, log_std = raw.mean(axis=0), logged.mean(axis=0), logged.std(axis=0)
    log_std[log_std == 0] = 1.0
    per = np.maximum(sizes, 1)[:, None]
    means = np.stack([np.bincount(labels, raw[:, j], len(sizes)) for j in range(len(names))], 1)
    means = means / per
    scores = np.stack([np.bincount(labels, logged[:, j], len(sizes)) for j in range(len(names))], 1)
    scores = np.where(sizes[:, None] > 0, (scores / per - log_mean) / log_std, 0.0)
    out = []
    for c in range(len(sizes)):
        rows = [
            FeatureIndex(
                name=name,
                mean=float(means[c, j]),
                base_mean=float(base_mean[j]),
                index=_index(means[c, j], base_mean[j]) if sizes[c] else 0.0,
                score=float(scores[c, j]),
            )
            for j, name in enumerate(names)
        ]
        out.append(sorted(rows, key=lambda f: -abs(f.score)))
    return out


def _index(value: float, base: float) -> float:
    """Return value / base x 100, 100 when the base is 0 (nobody differs from nothing)."""
    return float(value / base * 100) if base > 0 else 100.0


def _tag_indexes(labels, tags, names, sizes) -> list[list[TagIndex]]:
    """Return, per cluster, the TGI of each tag the base carries, highest first."""
    if tags is None or not names:
        return [[] for _size in sizes]
    matrix = sp.csr_matrix(tags, dtype=np.int64)
    if matrix.shape != (len(labels), len(names)):
        raise ValueError(ERR_TAGS)
    matrix.data = (matrix.data != 0).astype(np.int64)
    membership = sp.csr_matrix(
        (np.ones(len(labels), np.int64), (labels, np.arange(len(labels)))),
        shape=(len(sizes), len(labels)),
    )
    counts = (membership @ matrix).toarray()
    base = np.asarray(matrix.sum(axis=0)).ravel()
    base_share = base / len(labels)
    out = []
    for c, size in enumerate(sizes):
        rows = [
            TagIndex(
                name=name,
                count=int(counts[c, j]),
                share=float(counts[c, j] / size) if size else 0.0,
                base_share=float(base_share[j]),
                index=float(counts[c, j] / size / base_share[j] * 100) if size else 0.0,
            )
            for j, name in enumerate(names)
            if base[j] > 0
        ]
        out.append(sorted(rows, key=lambda t: (-t.index, t.name)))
    return out
