"""The purchase classifier: it learns, samples, ranks features and refuses one class."""

import numpy as np
import pytest

from predictions.errors import ERROR_ONE_OUTCOME, OUTCOME_DID_NOT_BUY, ModelError
from predictions.metrics import auc
from predictions.supervised import purchase_classifier_fit, purchase_classifier_importances

NAMES = ("signal", "noise", "weak")


def _data(rng, n):
    X = rng.normal(size=(n, 3))
    logit = 2.0 * X[:, 0] + 0.3 * X[:, 2] - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_it_learns_a_signal_and_ranks_it_first():
    rng = np.random.default_rng(1)
    X, y = _data(rng, 4_000)
    X_new, y_new = _data(rng, 3_000)

    model = purchase_classifier_fit(X, y, NAMES, random_state=0)
    p = model.predict_proba(X_new)
    importances = purchase_classifier_importances(model, X_new, y_new, random_state=0)

    assert p.min() >= 0 and p.max() <= 1
    assert auc(y_new, p) > 0.8
    assert importances[0][0] == "signal"
    assert importances[0][1] > 0.1
    assert {name for name, _m, _s in importances} == set(NAMES)


def test_it_trains_on_a_sample_of_at_most_max_rows():
    rng = np.random.default_rng(2)
    X, y = _data(rng, 3_000)

    model = purchase_classifier_fit(X, y, NAMES, random_state=0, max_rows=1_000)

    assert model.n_train == 1_000


def test_missing_values_are_allowed():
    rng = np.random.default_rng(3)
    X, y = _data(rng, 2_000)
    X[::7, 1] = np.nan

    model = purchase_classifier_fit(X, y, NAMES, random_state=0)

    assert np.all(np.isfinite(model.predict_proba(X)))


def test_it_refuses_labels_of_one_class():
    X = np.random.default_rng(4).normal(size=(500, 3))

    with pytest.raises(ModelError) as error:
        purchase_classifier_fit(X, np.zeros(500), NAMES, random_state=0)

    assert error.value.message == ERROR_ONE_OUTCOME
    assert error.value.params == {"outcome": OUTCOME_DID_NOT_BUY}


def test_it_refuses_a_matrix_of_the_wrong_width():
    with pytest.raises(ValueError, match="one column per feature"):
        purchase_classifier_fit(np.zeros((10, 2)), np.r_[np.zeros(5), np.ones(5)], NAMES)


def test_importances_are_empty_on_rows_of_one_class():
    rng = np.random.default_rng(5)
    X, y = _data(rng, 2_000)
    model = purchase_classifier_fit(X, y, NAMES, random_state=0)

    assert purchase_classifier_importances(model, X[:50], np.ones(50)) == []
