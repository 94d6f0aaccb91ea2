"""BG/NBD: parameter recovery, predictions against simulation, and refusals."""

import numpy as np
import pytest

from predictions.bgnbd import (
    BgNbdParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_p_alive,
    bgnbd_p_any_purchase,
)
from predictions.errors import (
    ERROR_NO_REPEATERS,
    ERROR_TOO_FEW_CUSTOMERS,
    MIN_CUSTOMERS,
    ModelError,
)
from tests.predictions.simulation import simulate_bgnbd

# The CDNOW fit of Fader, Hardie & Lee (2005), time in weeks.
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def _relative_errors(fitted: BgNbdParams, true: BgNbdParams) -> dict[str, float]:
    return {name: abs(getattr(fitted, name) / value - 1) for name, value in true.as_dict().items()}


def test_it_recovers_the_cdnow_parameters_from_20000_simulated_customers():
    # Ages of one to three years (in weeks). Over 60 seeds, 95% recover every parameter within
    # 10% (b is the loosest, its standard error is about 5%); this seed is fixed, so the test is
    # deterministic.
    rng = np.random.default_rng(2005)
    T = rng.uniform(52, 156, 20_000)
    base = simulate_bgnbd(rng, 20_000, CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b, T)

    fitted = bgnbd_fit(base.x, base.t_x, base.T)

    errors = _relative_errors(fitted, CDNOW)
    assert max(errors.values()) < 0.10, errors


def test_alpha_carries_the_time_unit_and_the_other_parameters_do_not():
    rng = np.random.default_rng(7)
    T = rng.uniform(26, 78, 5_000)
    base = simulate_bgnbd(rng, 5_000, CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b, T)

    weeks = bgnbd_fit(base.x, base.t_x, base.T)
    days = bgnbd_fit(base.x, base.t_x * 7, base.T * 7)

    assert days.alpha / 7 == pytest.approx(weeks.alpha, rel=1e-3)
    for name in ("r", "a", "b"):
        assert getattr(days, name) == pytest.approx(getattr(weeks, name), rel=1e-3)


@pytest.fixture(scope="module")
def future_base():
    """200,000 customers with the CDNOW parameters, observed 26-78 weeks, then 39 more weeks."""
    rng = np.random.default_rng(39)
    T = rng.uniform(26, 78, 200_000)
    return simulate_bgnbd(rng, 200_000, CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b, T, horizon=39)


@pytest.mark.parametrize("low, high", [(0, 0), (1, 3), (4, 9), (10, 10_000)])
def test_predictions_match_what_simulated_customers_did_next(future_base, low, high):
    base = future_base
    group = (base.x >= low) & (base.x <= high)
    x, t_x, T = base.x[group], base.t_x[group], base.T[group]

    alive = bgnbd_p_alive(CDNOW, x, t_x, T)
    expected = bgnbd_expected_purchases(CDNOW, 39, x, t_x, T)
    any_purchase = bgnbd_p_any_purchase(CDNOW, 39, x, t_x, T)

    assert alive.mean() == pytest.approx(base.alive[group].mean(), rel=0.03, abs=0.005)
    assert expected.mean() == pytest.approx(base.future[group].mean(), rel=0.04)
    assert any_purchase.mean() == pytest.approx((base.future[group] > 0).mean(), rel=0.03)


def test_p_alive_is_one_without_repeats_and_falls_with_silence():
    params = BgNbdParams(r=0.5, alpha=30.0, a=0.8, b=2.5)

    alive = bgnbd_p_alive(params, x=[0, 10, 10], t_x=[0, 300, 30], T=[365, 365, 365])

    # 1 / (1 + a/(b+x-1) · ((alpha+T)/(alpha+t_x))^(r+x)), by hand
    assert alive[0] == 1.0
    assert alive[1] == pytest.approx(1 / (1 + 0.8 / 11.5 * (395 / 330) ** 10.5))
    assert alive[2] == pytest.approx(1 / (1 + 0.8 / 11.5 * (395 / 60) ** 10.5))
    assert alive[2] < 1e-6


def test_a_zero_horizon_expects_no_purchase():
    params = BgNbdParams(r=0.5, alpha=30.0, a=0.8, b=2.5)

    assert bgnbd_expected_purchases(params, 0, [0, 3], [0, 50], [100, 100]).tolist() == [0, 0]
    assert bgnbd_p_any_purchase(params, 0, [0, 3], [0, 50], [100, 100]).tolist() == [0, 0]


def test_a_equal_to_one_gives_the_limit_of_its_neighbours():
    history = ([0, 2, 8], [0, 40, 90], [100, 100, 120])

    at_one = bgnbd_expected_purchases(BgNbdParams(0.5, 30.0, 1.0, 2.5), 90, *history)
    below = bgnbd_expected_purchases(BgNbdParams(0.5, 30.0, 0.99, 2.5), 90, *history)
    above = bgnbd_expected_purchases(BgNbdParams(0.5, 30.0, 1.01, 2.5), 90, *history)

    assert np.all(np.isfinite(at_one))
    assert at_one == pytest.approx((below + above) / 2, rel=1e-2)


def test_it_refuses_fewer_than_200_customers():
    x = np.ones(MIN_CUSTOMERS - 1)

    with pytest.raises(ModelError) as error:
        bgnbd_fit(x, x, x * 10)

    assert error.value.message == ERROR_TOO_FEW_CUSTOMERS
    assert str(error.value) == str(ERROR_TOO_FEW_CUSTOMERS).format(
        count=MIN_CUSTOMERS - 1, minimum=MIN_CUSTOMERS
    )


def test_it_refuses_a_base_where_everyone_bought_once():
    zeros = np.zeros(1_000)

    with pytest.raises(ModelError) as error:
        bgnbd_fit(zeros, zeros, np.linspace(1, 365, 1_000))

    assert error.value.message == ERROR_NO_REPEATERS


@pytest.mark.parametrize(
    "x, t_x, T, words",
    [
        ([1, 2], [1], [3, 3], "length"),
        ([1, -1], [1, 1], [3, 3], "≥ 0"),
        ([1, 1], [5, 1], [3, 3], "must not exceed"),
        ([1, np.nan], [1, 1], [3, 3], "finite"),
    ],
)
def test_it_names_what_is_wrong_with_bad_input(x, t_x, T, words):
    with pytest.raises(ValueError, match=words):
        bgnbd_p_alive(CDNOW, x, t_x, T)


def test_the_refusal_reads_in_chinese():
    from django.utils import translation

    with translation.override("zh-hans"):
        message = str(ModelError(ERROR_TOO_FEW_CUSTOMERS, count=12, minimum=MIN_CUSTOMERS))

    assert message == "购买用户太少，无法拟合购买模型：当前 12 人，至少需要 200 人。"
