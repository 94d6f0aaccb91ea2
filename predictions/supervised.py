"""A gradient-boosted purchase classifier over any per-customer features, with importances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from predictions.errors import ERROR_ONE_OUTCOME, OUTCOME_BOUGHT, OUTCOME_DID_NOT_BUY, ModelError

MAX_TRAIN_ROWS = 200_000  # a random sample of this many rows trains the model
MAX_IMPORTANCE_ROWS = 5_000  # permutation importance is measured on at most this many rows
IMPORTANCE_REPEATS = 3
# The boosting runs on one OpenMP thread. On the 2-core machine shared with PostgreSQL and
# workers (load about 7), two threads took 35 s to fit 200,000 rows × 15 features and 11.6 s for
# the importances; one thread took 3.3 s and 1.7 s (spinning threads wait for a busy core).
OPENMP_THREADS = 1


@dataclass(frozen=True)
class PurchaseClassifier:
    """A fitted classifier and the feature names, in the column order it expects."""

    estimator: HistGradientBoostingClassifier
    feature_names: tuple[str, ...]
    n_train: int

    def predict_proba(self, X) -> np.ndarray:
        """Return each row's probability of the positive class (a purchase), in [0, 1]."""
        X = _feature_matrix(X, self.feature_names)
        with threadpool_limits(limits=OPENMP_THREADS, user_api="openmp"):
            return np.clip(self.estimator.predict_proba(X)[:, 1], 0.0, 1.0)


def _feature_matrix(X, feature_names) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(
            f"X must be a 2-D array with one column per feature ({len(feature_names)}); "
            f"got shape {X.shape}."
        )
    if np.any(np.isinf(X)):
        raise ValueError("X must not hold infinite values (NaN means missing and is allowed).")
    return X


def _labels(y, n_rows: int) -> np.ndarray:
    y = np.asarray(y).ravel().astype(int)
    if len(y) != n_rows or not np.all(np.isin(y, (0, 1))):
        raise ValueError(f"y must hold one 0 or 1 per row of X ({n_rows}).")
    if y.min() == y.max():
        outcome = OUTCOME_BOUGHT if y[0] else OUTCOME_DID_NOT_BUY
        raise ModelError(ERROR_ONE_OUTCOME, outcome=outcome)
    return y


def purchase_classifier_fit(
    X, y, feature_names, random_state: int = 0, max_rows: int = MAX_TRAIN_ROWS
) -> PurchaseClassifier:
    """Return a HistGradientBoostingClassifier fitted on at most ``max_rows`` random rows.

    NaN in X means "missing" (the model handles it). Raise ModelError when y is one class.
    """
    names = tuple(str(name) for name in feature_names)
    X = _feature_matrix(X, names)
    y = _labels(y, len(X))
    if len(X) > max_rows:
        rows = np.random.default_rng(random_state).choice(len(X), size=max_rows, replace=False)
        X, y = X[rows], y[rows]
        _labels(y, len(X))
    estimator = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=300,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,  # on a stratified 10% of the training rows, by log-loss
        validation_fraction=0.1,
        n_iter_no_change=15,
        random_state=random_state,
    )
    with threadpool_limits(limits=OPENMP_THREADS, user_api="openmp"):
        estimator.fit(X, y)
    return PurchaseClassifier(estimator=estimator, feature_names=names, n_train=len(X))


def purchase_classifier_importances(
    model: PurchaseClassifier, X, y, random_state: int = 0, max_rows: int = MAX_IMPORTANCE_ROWS
) -> list[tuple[str, float, float]]:
    """Return (feature, mean, std) of the drop in AUC when the feature is shuffled, largest first.

    Measure it on held-out rows (at most ``max_rows``, drawn at random). Return an empty list
    when those rows hold a single class (AUC is undefined).
    """
    X = _feature_matrix(X, model.feature_names)
    y = np.asarray(y).ravel().astype(int)
    if len(X) > max_rows:
        rows = np.random.default_rng(random_state).choice(len(X), size=max_rows, replace=False)
        X, y = X[rows], y[rows]
    if len(np.unique(y)) < 2:
        return []
    with threadpool_limits(limits=OPENMP_THREADS, user_api="openmp"):
        result = permutation_importance(
            model.estimator,
            X,
            y,
            scoring="roc_auc",
            n_repeats=IMPORTANCE_REPEATS,
            random_state=random_state,
        )
    rows = zip(model.feature_names, result.importances_mean, result.importances_std, strict=True)
    return sorted(((n, float(m), float(s)) for n, m, s in rows), key=lambda row: -row[1])
