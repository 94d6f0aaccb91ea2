"""Lifetime value: purchases times spend, discounted month by month."""

import numpy as np
import pytest

from predictions.bgnbd import BgNbdParams, bgnbd_expected_purchases
from predictions.clv import clv
from predictions.gamma_gamma import GammaGammaParams, gamma_gamma_expected_spend

BGNBD = BgNbdParams(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)  # CDNOW, in days
SPEND = GammaGammaParams(p=6.25, q=3.74, v=15.44)
HISTORY = {"x": [0, 2, 7], "t_x": [0, 120, 300], "T": [200, 300, 320]}
MEANS = [0.0, 30.0, 55.0]


def test_undiscounted_value_is_expected_spend_times_expected_purchases():
    value = clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS, horizon_days=365)

    purchases = bgnbd_expected_purchases(BGNBD, 365, **HISTORY)
    spend = gamma_gamma_expected_spend(SPEND, HISTORY["x"], MEANS)
    assert value == pytest.approx(purchases * spend)


def test_discounting_lowers_value_by_at_most_a_years_rate():
    plain = clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS)

    discounted = clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS, annual_discount=0.10)

    assert np.all(discounted < plain)
    assert np.all(discounted > plain / 1.10)


def test_discounting_steps_sum_to_the_whole_horizon_at_zero_rate():
    # A tiny rate takes the stepped path; its value tends to the closed form.
    stepped = clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS, annual_discount=1e-12)

    closed = clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS)
    assert stepped == pytest.approx(closed, rel=1e-9)


def test_no_horizon_no_value():
    value = clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS, horizon_days=0)

    assert value.tolist() == [0, 0, 0]


def test_it_refuses_a_negative_rate():
    with pytest.raises(ValueError, match="≥ 0"):
        clv(BGNBD, SPEND, **HISTORY, monetary_mean=MEANS, annual_discount=-0.1)
