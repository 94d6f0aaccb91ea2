"""Gamma-Gamma spend: parameter recovery, expected spend against simulation, and refusals."""

import numpy as np
import pytest

from predictions.errors import ERROR_NO_SPEND, ModelError
from predictions.gamma_gamma import (
    GammaGammaParams,
    gamma_gamma_expected_spend,
    gamma_gamma_fit,
)
from tests.predictions.simulation import simulate_spend

# The CDNOW fit of Fader & Hardie, "The Gamma-Gamma Model of Monetary Value" (2013).
CDNOW = GammaGammaParams(p=6.25, q=3.74, v=15.44)


def test_it_recovers_the_cdnow_spend_parameters_from_50000_simulated_customers():
    # Over 40 seeds, 97.5% recover every parameter within 10%; this seed is fixed.
    rng = np.random.default_rng(2013)
    x = rng.integers(1, 8, 50_000)
    mean_spend, _true_mean = simulate_spend(rng, x, CDNOW.p, CDNOW.q, CDNOW.v)

    fitted = gamma_gamma_fit(x, mean_spend)

    errors = {
        name: abs(getattr(fitted, name) / value - 1) for name, value in CDNOW.as_dict().items()
    }
    assert max(errors.values()) < 0.10, errors


def test_it_ignores_one_time_buyers_and_non_positive_means_when_fitting():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 8, 5_000)
    mean_spend, _true_mean = simulate_spend(rng, x, CDNOW.p, CDNOW.q, CDNOW.v)

    alone = gamma_gamma_fit(x, mean_spend)
    padded = gamma_gamma_fit(
        np.r_[x, np.zeros(500), [3, 2]], np.r_[mean_spend, np.zeros(500), [0, -5]]
    )

    assert padded == alone


@pytest.mark.parametrize("purchases", [1, 3, 10])
def test_expected_spend_matches_the_simulated_customers_true_mean(purchases):
    rng = np.random.default_rng(purchases)
    x = np.full(100_000, purchases)
    mean_spend, true_mean = simulate_spend(rng, x, CDNOW.p, CDNOW.q, CDNOW.v)

    expected = gamma_gamma_expected_spend(CDNOW, x, mean_spend)

    assert expected.mean() == pytest.approx(true_mean.mean(), rel=0.01)
    # and the estimate tracks each customer: better than the population mean for everyone
    population_error = np.abs(CDNOW.population_mean - true_mean).mean()
    assert np.abs(expected - true_mean).mean() < population_error


def test_a_customer_without_repeat_purchases_gets_the_population_mean():
    spend = gamma_gamma_expected_spend(CDNOW, [0, 0], [0.0, 123.0])

    assert spend.tolist() == pytest.approx([6.25 * 15.44 / 2.74] * 2)
    assert CDNOW.population_mean == pytest.approx(6.25 * 15.44 / 2.74)


def test_expected_spend_is_the_weighted_mean_of_population_and_own_mean_by_hand():
    spend = gamma_gamma_expected_spend(CDNOW, [4], [50.0])

    weight = 6.25 * 4 / (6.25 * 4 + 3.74 - 1)
    assert spend[0] == pytest.approx((1 - weight) * CDNOW.population_mean + weight * 50.0)


def test_it_refuses_a_base_without_repeat_spend():
    with pytest.raises(ModelError) as error:
        gamma_gamma_fit([0, 0, 3], [10.0, 20.0, 0.0])

    assert error.value.message == ERROR_NO_SPEND
