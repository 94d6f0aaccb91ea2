"""Customer lifetime value over a horizon: BG/NBD purchases times Gamma-Gamma spend, discounted."""

from __future__ import annotations

import numpy as np

from predictions.bgnbd import BgNbdParams, bgnbd_expected_purchases
from predictions.gamma_gamma import GammaGammaParams, gamma_gamma_expected_spend

DAYS_PER_YEAR = 365.0
STEP_DAYS = 30.0  # purchases are discounted month by month


def clv(
    params_bgnbd: BgNbdParams,
    params_gg: GammaGammaParams,
    x,
    t_x,
    T,
    monetary_mean,
    horizon_days: float = 365.0,
    annual_discount: float = 0.0,
) -> np.ndarray:
    """Return each customer's expected spend over the next ``horizon_days``, each ≥ 0.

    Time is in days (BG/NBD fitted on days). Following Fader, Hardie & Lee (2005, JMR "RFM and
    CLV", section "Computing CLV"), spend per purchase is independent of the purchase process,
    so value = Σ_k E[spend] · (E[X(t_k)] - E[X(t_{k-1})]) / (1 + d)^(t_k / 365) over 30-day
    steps t_k up to the horizon. With d = 0 this is E[spend] · E[X(horizon)].
    """
    if horizon_days < 0 or annual_discount < 0:
        raise ValueError("horizon_days and annual_discount must be ≥ 0.")
    spend = gamma_gamma_expected_spend(params_gg, x, monetary_mean)
    if annual_discount == 0:
        return spend * bgnbd_expected_purchases(params_bgnbd, horizon_days, x, t_x, T)
    ends = np.append(np.arange(STEP_DAYS, horizon_days, STEP_DAYS), horizon_days)
    value = np.zeros_like(spend)
    before = np.zeros_like(spend)
    for end in ends:
        until = bgnbd_expected_purchases(params_bgnbd, float(end), x, t_x, T)
        value += np.maximum(until - before, 0.0) / (1.0 + annual_discount) ** (end / DAYS_PER_YEAR)
        before = until
    return spend * value
