"""Scores stay in their ranges over random event histories (hypothesis)."""

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from predictions.bgnbd import (
    BgNbdParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_p_alive,
    bgnbd_p_any_purchase,
)
from predictions.clv import clv
from predictions.errors import ModelError
from predictions.gamma_gamma import GammaGammaParams, gamma_gamma_expected_spend, gamma_gamma_fit

positive = st.floats(min_value=0.01, max_value=50.0)
params_bgnbd = st.builds(
    BgNbdParams,
    r=positive,
    alpha=st.floats(min_value=0.01, max_value=5_000.0),
    a=positive,
    b=positive,
)
params_gg = st.builds(
    GammaGammaParams,
    p=positive,
    q=st.floats(min_value=1.01, max_value=50.0),
    v=st.floats(min_value=0.01, max_value=10_000.0),
)


@st.composite
def histories(draw, min_size=1, max_size=50):
    """Draw purchase histories in days: each customer's purchase days, summarised as x, t_x, T."""
    rows = draw(
        st.lists(
            st.tuples(
                st.floats(min_value=0, max_value=5_000),  # age T
                st.lists(
                    st.floats(min_value=0, max_value=1), max_size=300
                ),  # repeats, as parts of T
                st.floats(min_value=-100, max_value=10_000),  # mean amount
            ),
            min_size=min_size,
            max_size=max_size,
        )
    )
    T = np.array([age for age, _repeats, _amount in rows])
    x = np.array([len(repeats) for _age, repeats, _amount in rows], dtype=float)
    t_x = np.array([age * max(repeats, default=0) for age, repeats, _amount in rows])
    monetary = np.array([amount for _age, _repeats, amount in rows])
    return x, np.minimum(t_x, T), T, monetary


def _in_range(values, low, high=np.inf):
    return np.all(np.isfinite(values)) and np.all(values >= low) and np.all(values <= high)


@settings(max_examples=300, deadline=None)
@given(params=params_bgnbd, history=histories(), horizon=st.floats(min_value=0, max_value=3_650))
@example(
    params=BgNbdParams(r=1.0, alpha=1.0, a=0.8, b=0.2),  # a + b = 1: c of ₂F₁ is 0 at x = 0
    history=(np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([0.0])),
    horizon=1.0,
)
def test_bgnbd_scores_are_probabilities_and_non_negative_expectations(params, history, horizon):
    x, t_x, T, _monetary = history

    alive = bgnbd_p_alive(params, x, t_x, T)
    any_purchase = bgnbd_p_any_purchase(params, horizon, x, t_x, T)
    expected = bgnbd_expected_purchases(params, horizon, x, t_x, T)

    assert _in_range(alive, 0, 1)
    assert _in_range(any_purchase, 0, 1)
    assert _in_range(expected, 0)
    assert np.all(any_purchase <= alive + 1e-12)


@settings(max_examples=200, deadline=None)
@given(
    params=params_bgnbd, spend=params_gg, history=histories(), discount=st.sampled_from([0.0, 0.08])
)
def test_spend_and_lifetime_value_are_finite_and_non_negative(params, spend, history, discount):
    x, t_x, T, monetary = history

    expected_spend = gamma_gamma_expected_spend(spend, x, monetary)
    value = clv(params, spend, x, t_x, T, monetary, horizon_days=365, annual_discount=discount)

    assert _in_range(expected_spend, 0)
    assert _in_range(value, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(200, 3_000),
    repeat_share=st.sampled_from([0.0, 0.001, 0.1, 0.6, 1.0]),
    same_age=st.booleans(),
)
def test_fits_on_random_bases_give_finite_parameters_or_a_model_error(
    seed, n, repeat_share, same_age
):
    rng = np.random.default_rng(seed)
    T = np.full(n, 100.0) if same_age else rng.uniform(0, 2_000, n)
    repeats = rng.random(n) < repeat_share
    x = np.where(repeats, rng.integers(1, 40, n), 0).astype(float)
    t_x = np.where(repeats, T * rng.random(n), 0.0)
    monetary = np.where(repeats, rng.lognormal(3, 1.5, n), 0.0)

    try:
        params = bgnbd_fit(x, t_x, T)
        spend = gamma_gamma_fit(x, monetary)
    except ModelError as error:
        assert str(error)  # a readable message, never a crash
        return

    assert all(np.isfinite(v) and v > 0 for v in params.as_dict().values())
    assert all(np.isfinite(v) and v > 0 for v in spend.as_dict().values())
    assert _in_range(bgnbd_p_any_purchase(params, 90, x, t_x, T), 0, 1)
    assert _in_range(clv(params, spend, x, t_x, T, monetary), 0)
