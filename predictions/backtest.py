"""Train before a cut-off, score who bought in the next days, and choose the better purchase model.

The caller computes each customer's state at the cut-off (x, t_x, T in days, mean spend, and any
extra features from every event kind) and the label "bought in the ``horizon_days`` after the
cut-off". BG/NBD needs no label, so it is fitted on everyone's history before the cut-off; the
classifier is trained on a random part of the customers and both are judged on the rest, next to
a recency-only baseline (score = -days since the last purchase).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from predictions.bgnbd import BgNbdParams, bgnbd_fit, bgnbd_p_any_purchase, history_arrays
from predictions.errors import ERROR_ONE_OUTCOME, OUTCOME_BOUGHT, OUTCOME_DID_NOT_BUY, ModelError
from predictions.metrics import ModelReport, model_report, plain
from predictions.supervised import (
    PurchaseClassifier,
    purchase_classifier_fit,
    purchase_classifier_importances,
)

BGNBD = "bgnbd"
SUPERVISED = "supervised"
RECENCY = "recency"
RFM_FEATURES = ("frequency", "recency_days", "age_days", "monetary_mean")


@dataclass(frozen=True)
class BacktestResult:
    """Both fitted models, their held-out reports next to the baseline, and the choice."""

    chosen: str  # BGNBD or SUPERVISED: the better held-out AUC (BG/NBD on a tie)
    bgnbd_params: BgNbdParams
    classifier: PurchaseClassifier
    reports: dict[str, ModelReport]  # keyed BGNBD, SUPERVISED, RECENCY
    horizon_days: float
    n_customers: int
    n_train: int
    n_holdout: int
    holdout_purchase_rate: float

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as plain JSON values (no numpy types, no NaN)."""
        return plain(
            {
                "chosen": self.chosen,
                "horizon_days": self.horizon_days,
                "n_customers": self.n_customers,
                "n_train": self.n_train,
                "n_holdout": self.n_holdout,
                "holdout_purchase_rate": self.holdout_purchase_rate,
                "bgnbd_params": self.bgnbd_params.as_dict(),
                "models": {name: report.as_dict() for name, report in self.reports.items()},
            }
        )


def supervised_features(
    x, t_x, T, monetary, extra=None, extra_names=()
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return the classifier's matrix (RFM state, then the extra columns) and its column names."""
    x, t_x, T = history_arrays(x, t_x, T)
    columns = [x, T - t_x, T, np.asarray(monetary, dtype=float).ravel()]
    names = RFM_FEATURES
    if extra is not None:
        extra = np.asarray(extra, dtype=float).reshape(len(x), -1)
        if extra.shape[1] != len(extra_names):
            raise ValueError(f"extra has {extra.shape[1]} columns but {len(extra_names)} names.")
        columns.extend(extra.T)
        names = names + tuple(str(name) for name in extra_names)
    return np.column_stack(columns), names


def holdout_split(label, holdout_fraction: float, random_state: int) -> tuple[np.ndarray, ...]:
    """Return (train, holdout) row indices, stratified by label and fixed by ``random_state``."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1.")
    rng = np.random.default_rng(random_state)
    train, holdout = [], []
    for value in (0, 1):
        rows = rng.permutation(np.flatnonzero(label == value))
        cut = round(holdout_fraction * len(rows))
        if len(rows) >= 2:
            cut = min(max(cut, 1), len(rows) - 1)  # each class on both sides when it can be
        holdout.append(rows[:cut])
        train.append(rows[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(holdout))


def backtest(  # long: one straight sequence of fit, score and report steps
    *,
    x,
    t_x,
    T,
    monetary,
    label,
    extra=None,
    extra_names=(),
    horizon_days: float = 90.0,
    holdout_fraction: float = 0.3,
    random_state: int = 0,
) -> BacktestResult:
    """Return both models fitted at the cut-off, judged on held-out customers, and the choice.

    Raise ModelError when BG/NBD cannot be fitted (too few purchasers, nobody repeats) or when
    everyone, or no one, bought after the cut-off.
    """
    x, t_x, T = history_arrays(x, t_x, T)
    label = np.asarray(label).ravel().astype(int)
    if len(label) != len(x) or not np.all(np.isin(label, (0, 1))):
        raise ValueError(f"label must hold one 0 or 1 per customer ({len(x)}).")
    params = bgnbd_fit(x, t_x, T)
    if label.min() == label.max():
        outcome = OUTCOME_BOUGHT if label[0] else OUTCOME_DID_NOT_BUY
        raise ModelError(ERROR_ONE_OUTCOME, outcome=outcome)
    features, names = supervised_features(x, t_x, T, monetary, extra, extra_names)
    train, held = holdout_split(label, holdout_fraction, random_state)
    classifier = purchase_classifier_fit(features[train], label[train], names, random_state)
    y = label[held]
    scores = {
        BGNBD: bgnbd_p_any_purchase(params, horizon_days, x[held], t_x[held], T[held]),
        SUPERVISED: classifier.predict_proba(features[held]),
        RECENCY: -(T[held] - t_x[held]),
    }
    importances = purchase_classifier_importances(classifier, features[held], y, random_state)
    reports = {
        BGNBD: model_report(BGNBD, y, scores[BGNBD], probability=True),
        SUPERVISED: model_report(
            SUPERVISED, y, scores[SUPERVISED], probability=True, importances=importances
        ),
        RECENCY: model_report(RECENCY, y, scores[RECENCY], probability=False),
    }
    return BacktestResult(
        chosen=_better(reports[BGNBD], reports[SUPERVISED]),
        bgnbd_params=params,
        classifier=classifier,
        reports=reports,
        horizon_days=float(horizon_days),
        n_customers=len(x),
        n_train=len(train),
        n_holdout=len(held),
        holdout_purchase_rate=float(y.mean()) if len(y) else 0.0,
    )


def _better(bgnbd: ModelReport, supervised: ModelReport) -> str:
    """Return SUPERVISED when its held-out AUC beats BG/NBD's, else BGNBD."""
    if supervised.auc is not None and (bgnbd.auc is None or supervised.auc > bgnbd.auc):
        return SUPERVISED
    return BGNBD


def repurchase_probability(
    result: BacktestResult,
    *,
    x,
    t_x,
    T,
    monetary,
    extra=None,
    extra_names=(),
    bgnbd_params: BgNbdParams | None = None,
) -> np.ndarray:
    """Return P(purchase in the next ``result.horizon_days``) by the chosen model, in [0, 1].

    Pass the state at "now". For BG/NBD, pass ``bgnbd_params`` refitted on that state (the
    cut-off fit is used otherwise); the classifier is the one trained at the cut-off, and
    ``extra`` must have the same columns as in the backtest.
    """
    if result.chosen == BGNBD:
        params = bgnbd_params or result.bgnbd_params
        return bgnbd_p_any_purchase(params, result.horizon_days, x, t_x, T)
    features, names = supervised_features(x, t_x, T, monetary, extra, extra_names)
    if names != result.classifier.feature_names:
        raise ValueError(f"Expected the features {result.classifier.feature_names}, got {names}.")
    return result.classifier.predict_proba(features)
