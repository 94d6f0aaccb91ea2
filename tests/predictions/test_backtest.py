"""The backtest on a shop with a known repurchase process: the chosen model beats recency."""

import json

import numpy as np
import pytest

from predictions.backtest import (
    BGNBD,
    RECENCY,
    SUPERVISED,
    backtest,
    holdout_split,
    repurchase_probability,
)
from predictions.errors import ERROR_ONE_OUTCOME, ERROR_TOO_FEW_CUSTOMERS, ModelError
from tests.predictions.simulation import simulate_shop


@pytest.fixture(scope="module")
def shop():
    return simulate_shop(np.random.default_rng(90), 20_000)


def _state(shop, rows=slice(None)):
    return {
        "x": shop.x[rows],
        "t_x": shop.t_x[rows],
        "T": shop.T[rows],
        "monetary": shop.monetary[rows],
    }


@pytest.fixture(scope="module")
def with_events(shop):
    return backtest(
        **_state(shop), label=shop.label, extra=shop.extra, extra_names=shop.extra_names
    )


def test_the_chosen_model_beats_recency_alone(with_events):
    reports = with_events.reports

    chosen = reports[with_events.chosen]
    assert chosen.auc > reports[RECENCY].auc + 0.02
    assert chosen.lift_top_decile > reports[RECENCY].lift_top_decile


def test_page_views_before_purchases_make_the_classifier_win_and_rank_first(with_events):
    reports = with_events.reports

    assert with_events.chosen == SUPERVISED
    assert reports[SUPERVISED].auc > reports[BGNBD].auc
    assert reports[SUPERVISED].importances[0][0] == "page_views_14d"


def test_without_other_events_the_chosen_model_still_beats_recency(shop):
    result = backtest(**_state(shop), label=shop.label)

    reports = result.reports
    assert reports[result.chosen].auc > reports[RECENCY].auc + 0.02
    assert reports[BGNBD].auc > reports[RECENCY].auc


def test_the_report_is_strict_json_with_every_figure_of_the_model_page(with_events):
    figures = json.loads(json.dumps(with_events.as_dict(), allow_nan=False))

    assert figures["n_customers"] == 20_000
    assert figures["n_train"] + figures["n_holdout"] == 20_000
    assert set(figures["models"]) == {BGNBD, SUPERVISED, RECENCY}
    assert len(figures["models"][BGNBD]["calibration"]) == 10
    assert figures["models"][RECENCY]["calibration"] is None
    assert set(figures["bgnbd_params"]) == {"r", "alpha", "a", "b"}


def test_calibration_of_bgnbd_follows_what_happened(with_events):
    bins = with_events.reports[BGNBD].calibration

    predicted = np.array([b.mean_predicted for b in bins])
    observed = np.array([b.observed_rate for b in bins])
    assert np.abs(predicted - observed).max() < 0.1


def test_the_same_seed_gives_the_same_result(shop):
    rows = slice(0, 3_000)
    first = backtest(**_state(shop, rows), label=shop.label[rows], random_state=4)

    second = backtest(**_state(shop, rows), label=shop.label[rows], random_state=4)

    assert first.as_dict() == second.as_dict()


def test_the_chosen_model_scores_the_present_state(with_events, shop):
    now = _state(shop)

    p = repurchase_probability(with_events, **now, extra=shop.extra, extra_names=shop.extra_names)

    assert p.shape == (20_000,)
    assert np.all((p >= 0) & (p <= 1))


def test_scoring_refuses_other_features_than_trained_on(with_events, shop):
    with pytest.raises(ValueError, match="Expected the features"):
        repurchase_probability(
            with_events, **_state(shop), extra=shop.extra[:, :2], extra_names=shop.extra_names[:2]
        )


def test_it_refuses_a_period_where_nobody_bought(shop):
    rows = slice(0, 1_000)

    with pytest.raises(ModelError) as error:
        backtest(**_state(shop, rows), label=np.zeros(1_000))

    assert error.value.message == ERROR_ONE_OUTCOME


def test_it_refuses_too_few_purchasers(shop):
    rows = slice(0, 150)

    with pytest.raises(ModelError) as error:
        backtest(**_state(shop, rows), label=shop.label[rows])

    assert error.value.message == ERROR_TOO_FEW_CUSTOMERS


def test_the_split_keeps_both_classes_on_both_sides():
    label = np.r_[np.zeros(98), np.ones(2)].astype(int)

    train, held = holdout_split(label, 0.3, random_state=0)

    assert sorted(np.r_[train, held].tolist()) == list(range(100))
    assert label[held].sum() == 1 and label[train].sum() == 1
    assert len(held) == 29 + 1
