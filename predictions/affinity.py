"""Mine association rules over purchase baskets and rank product recommendations per profile."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlxtend.frequent_patterns import association_rules, fpgrowth

ERR_THRESHOLD = "{name} must be a number greater than 0 and at most 1, not {value!r}"
ERR_MAX_LEN = "max_len must be an integer of at least 2, not {value!r}"
ERR_PAIRS = "basket indexes (non-negative) and products must be two 1-D arrays of the same length"
ERR_ROWS = "rows must be more than the largest basket index"
ERR_BOUGHT = "bought must be a matrix with one row per profile and one column per product"
ERR_CLUSTERS = "clusters must be a 1-D array of non-negative integers, one per profile"
ERR_LIMIT = "limit must be a positive integer"
RANK_CHUNK = 100_000  # profiles ranked at once (bounds the dense score matrix)


@dataclass(frozen=True)
class AssociationRule:
    """Who bought all of ``antecedent`` also bought ``consequent``, with its measures."""

    antecedent: tuple[str, ...]  # sorted product ids
    consequent: str
    support: float  # share of baskets holding antecedent and consequent
    confidence: float  # support / share of baskets holding the antecedent
    lift: float  # confidence / share of baskets holding the consequent
    count: int  # baskets holding antecedent and consequent


def baskets_matrix(baskets, *, rows: int | None = None) -> tuple[sp.csr_matrix, list[str]]:
    """Return a boolean baskets x products matrix and its product ids (sorted).

    ``baskets`` is either a pair (basket index array, product id array), one entry per
    purchased item (duplicates allowed: the shape of a purchase query's result, and the cheap
    one for ~600k baskets), or an iterable of sets of product ids, one per basket. Row i of the
    matrix is basket index i, so indexes without a product are empty rows; ``rows`` sets the
    number of rows (default: the largest index + 1). Empty or missing product ids (None, "")
    are dropped: they produce no rules.
    """
    indexes, products = _pairs(baskets)
    if len(indexes) and indexes.min() < 0:
        raise ValueError(ERR_PAIRS)
    height = int(indexes.max()) + 1 if len(indexes) else 0
    height = height if rows is None else rows
    if height < (int(indexes.max()) + 1 if len(indexes) else 0):
        raise ValueError(ERR_ROWS)
    text = pd.Series(products, dtype=object)
    keep = (text.notna() & (text.astype(str) != "")).to_numpy()
    columns, names = pd.factorize(text[keep].astype(str), sort=True)
    matrix = sp.csr_matrix(
        (np.ones(len(columns), dtype=bool), (indexes[keep], columns)), shape=(height, len(names))
    )
    matrix.sum_duplicates()
    return matrix, [str(n) for n in names]


def _pairs(baskets) -> tuple[np.ndarray, np.ndarray]:
    """Return (basket index, product id) arrays from either input shape of baskets_matrix."""
    if isinstance(baskets, tuple) and len(baskets) == 2:
        rows = np.asarray(baskets[0])
        products = np.asarray(baskets[1], dtype=object)
        if rows.ndim != 1 or products.ndim != 1 or len(rows) != len(products):
            raise ValueError(ERR_PAIRS)
        return rows.astype(np.int64, copy=False), products
    sets = [list(basket) for basket in baskets]
    rows = np.repeat(np.arange(len(sets), dtype=np.int64), [len(s) for s in sets])
    products = np.empty(len(rows), dtype=object)
    products[:] = [p for s in sets for p in s]
    return rows, products


def baskets_rules(
    baskets, *, min_support: float, min_confidence: float, max_len: int = 3
) -> list[AssociationRule]:
    """Return the rules with one consequent above both thresholds, strongest first.

    ``baskets`` as in baskets_matrix. Itemsets of up to ``max_len`` products are mined with
    mlxtend's fpgrowth on a sparse DataFrame. Rules are ordered by confidence, lift, support
    (descending), then antecedent and consequent.
    """
    _check_threshold("min_support", min_support)
    _check_threshold("min_confidence", min_confidence)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 2:
        raise ValueError(ERR_MAX_LEN.format(value=max_len))
    matrix, names = baskets_matrix(baskets)
    matrix = matrix[matrix.getnnz(axis=1) > 0]  # a basket without any product counts for nothing
    if matrix.shape[0] == 0:
        return []
    frame = pd.DataFrame.sparse.from_spmatrix(matrix, columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        itemsets = fpgrowth(frame, min_support=min_support, use_colnames=True, max_len=max_len)
    if not (itemsets["itemsets"].map(len) > 1).any():
        return []
    found = association_rules(
        itemsets,
        num_itemsets=matrix.shape[0],
        metric="confidence",
        min_threshold=min_confidence,
        return_metrics=["support", "confidence", "lift"],
    )
    found = found[found["consequents"].map(len) == 1]
    rules = [
        AssociationRule(
            antecedent=tuple(sorted(antecedent)),
            consequent=next(iter(consequent)),
            support=float(support),
            confidence=float(confidence),
            lift=float(lift),
            count=round(support * matrix.shape[0]),
        )
        for antecedent, consequent, support, confidence, lift in zip(
            found["antecedents"],
            found["consequents"],
            found["support"],
            found["confidence"],
            found["lift"],
            strict=True,
        )
    ]
    return sorted(rules, key=_strength)


def _check_threshold(name: str, value) -> None:
    """Refuse a threshold that is not a number in (0, 1]."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= 1:
        raise ValueError(ERR_THRESHOLD.format(name=name, value=value))


def _strength(rule: AssociationRule) -> tuple:
    """Return the sort key putting the strongest rule first."""
    return (-rule.confidence, -rule.lift, -rule.support, rule.antecedent, rule.consequent)


def recommendations_rank(
    bought,
    rules: Iterable[AssociationRule],
    products: Sequence[str],
    clusters: np.ndarray | None = None,
    *,
    limit: int = 5,
) -> list[list[str]]:
    """Return, per profile, up to ``limit`` product ids it has not bought, best first.

    ``bought`` is a profiles x products boolean matrix (sparse or dense) whose columns are
    ``products``; ``clusters`` gives each profile's cluster index (None: one cluster). Products
    named by a firing rule (all its antecedent bought) come first, ranked by the strongest such
    rule (confidence, then lift); the rest of the places go to the products most bought in the
    profile's cluster. Products nobody in the cluster bought are never proposed by popularity.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(ERR_LIMIT)
    matrix = sp.csr_matrix(bought, dtype=bool)
    if matrix.shape[1] != len(products):
        raise ValueError(ERR_BOUGHT)
    groups = _clusters(clusters, matrix.shape[0])
    popularity = _cluster_popularity(matrix, groups)
    compiled = _rules_compiled(rules, products)
    names = np.asarray(products, dtype=object)
    out: list[list[str]] = []
    for start in range(0, matrix.shape[0], RANK_CHUNK):
        chunk = matrix[start : start + RANK_CHUNK].toarray()
        scores = _scores(chunk, compiled, popularity[groups[start : start + RANK_CHUNK]])
        out.extend(_top(scores, names, limit))
    return out


def _clusters(clusters, rows: int) -> np.ndarray:
    """Return the cluster index of each profile, all 0 when none is given."""
    if clusters is None:
        return np.zeros(rows, dtype=np.int64)
    groups = np.asarray(clusters)
    valid = groups.ndim == 1 and len(groups) == rows and np.issubdtype(groups.dtype, np.integer)
    if not valid or (rows and groups.min() < 0):
        raise ValueError(ERR_CLUSTERS)
    return groups.astype(np.int64, copy=False)


def _cluster_popularity(matrix: sp.csr_matrix, groups: np.ndarray) -> np.ndarray:
    """Return a clusters x products array: the share of each cluster that bought each product."""
    k = int(groups.max()) + 1 if len(groups) else 1
    membership = sp.csr_matrix(
        (np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(k, len(groups))
    )
    counts = (membership @ matrix.astype(np.float64)).toarray()
    sizes = np.bincount(groups, minlength=k)[:, None]
    return counts / np.maximum(sizes, 1)


def _rules_compiled(rules, products) -> list[tuple[np.ndarray, int, float]]:
    """Return (antecedent columns, consequent column, priority) per usable rule, strongest first.

    Priorities are 2 + the number of weaker rules, so every rule outranks popularity (in [0, 1]).
    Rules naming a product outside ``products`` are skipped.
    """
    column = {name: index for index, name in enumerate(products)}
    usable = [
        r
        for r in sorted(rules, key=_strength)
        if r.consequent in column and all(a in column for a in r.antecedent)
    ]
    return [
        (np.array([column[a] for a in r.antecedent], dtype=np.int64), column[r.consequent], p)
        for r, p in zip(usable, range(len(usable) + 1, 1, -1), strict=True)
    ]


def _scores(chunk: np.ndarray, compiled, popularity: np.ndarray) -> np.ndarray:
    """Return a profiles x products score: the strongest firing rule's priority, else popularity.

    Bought products score 0. Works on transposed copies so each product's column is contiguous.
    """
    bought = np.ascontiguousarray(chunk.T)
    scores = np.ascontiguousarray(popularity.T)
    for antecedent, consequent, priority in compiled:
        fires = np.logical_and.reduce(bought[antecedent], axis=0)
        row = scores[consequent]
        np.copyto(row, priority, where=fires & (row < priority))
    scores[bought] = 0.0
    return scores.T


def _top(scores: np.ndarray, names: np.ndarray, limit: int) -> list[list[str]]:
    """Return, per row, the names of the best positive scores (ties: product order)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :limit]
    counts = (np.take_along_axis(scores, order, axis=1) > 0).sum(axis=1)
    return [row[:count] for row, count in zip(names[order].tolist(), counts.tolist(), strict=True)]
