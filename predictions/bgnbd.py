"""The BG/NBD model of non-contractual repeat buying: fit, P(alive) and expected purchases.

Reference: P. S. Fader, B. G. S. Hardie and K. L. Lee, "'Counting Your Customers' the Easy Way:
An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 2005 (FHL 2005 below).

A customer's history is summarised by ``x`` (repeat purchases, i.e. purchases after the first),
``t_x`` (time from the first to the last purchase; 0 when x = 0) and ``T`` (time from the first
purchase to the end of the observation), all in one time unit (days in the product). While
active, a customer buys at Poisson rate λ ~ Gamma(r, alpha); after each repeat purchase they drop
out for good with probability p ~ Beta(a, b).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from predictions.errors import (
    ERROR_NO_REPEATERS,
    ERROR_NOT_CONVERGED,
    ERROR_TOO_FEW_CUSTOMERS,
    MIN_CUSTOMERS,
    REASON_NOT_FINITE_SCORE,
    ModelError,
)
from predictions.mle import maximise_log_likelihood

MODEL_NAME = "BG/NBD"


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters; ``alpha`` is in the time unit of the data it was fitted on."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as plain floats (for JSON)."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def history_arrays(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``x, t_x, T`` as float arrays, or raise ValueError naming what is wrong."""
    x, t_x, T = (np.asarray(v, dtype=float).ravel() for v in (x, t_x, T))
    if not len(x) == len(t_x) == len(T):
        raise ValueError(f"x, t_x and T differ in length: {len(x)}, {len(t_x)}, {len(T)}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(T))):
        raise ValueError("x, t_x and T must be finite numbers.")
    if np.any(x < 0) or np.any(t_x < 0):
        raise ValueError("x and t_x must be ≥ 0.")
    if np.any(t_x > T):
        raise ValueError("t_x (time of the last purchase) must not exceed T (the customer's age).")
    return x, t_x, T


def bgnbd_fit(frequency, recency, T) -> BgNbdParams:
    """Return the maximum-likelihood BG/NBD parameters for the whole base.

    ``frequency`` = repeat purchases x, ``recency`` = t_x, ``T`` = age, in one time unit.
    Raise ModelError with fewer than MIN_CUSTOMERS customers, when nobody repeats, or when the
    optimiser fails.
    """
    x, t_x, T = history_arrays(frequency, recency, T)
    if len(x) < MIN_CUSTOMERS:
        raise ModelError(ERROR_TOO_FEW_CUSTOMERS, count=len(x), minimum=MIN_CUSTOMERS)
    if not np.any(x > 0):
        raise ModelError(ERROR_NO_REPEATERS)
    # Time is rescaled so that the mean age is 10: only alpha carries the unit
    # (alpha' = alpha / scale), and the optimiser moves in well-conditioned ranges.
    scale = float(np.mean(T)) / 10.0 if np.mean(T) > 0 else 1.0
    data = (x, t_x / scale, T / scale)
    theta = maximise_log_likelihood(
        lambda params: _neg_mean_log_likelihood(params, *data),
        start=np.array([1.0, 1.0, 1.0, 1.0]),
        model=MODEL_NAME,
        # a → 0 or b → ∞ is p → 0: nobody drops out, the NBD limit, still a sound model.
        may_run_off=(False, False, True, True),
    )
    r, alpha, a, b = (float(v) for v in theta)
    return BgNbdParams(r=r, alpha=alpha * scale, a=a, b=b)


def _neg_mean_log_likelihood(theta, x, t_x, T) -> tuple[float, np.ndarray]:  # long: formula
    """Return minus the mean log-likelihood (FHL 2005, eq. 6) and its gradient in (r, alpha, a, b).

    L = B(a, b+x)/B(a, b) · Γ(r+x) alpha^r / (Γ(r) (alpha+T)^(r+x))
        + δ(x>0) · B(a+1, b+x-1)/B(a, b) · Γ(r+x) alpha^r / (Γ(r) (alpha+t_x)^(r+x))
    so log L = A1 + log(e^A2 + δ e^A3) with
    A1 = lnΓ(r+x) - lnΓ(r) + r ln alpha,
    A2 = ln B(a, b+x) - ln B(a, b) - (r+x) ln(alpha+T),
    A3 = ln B(a+1, b+x-1) - ln B(a, b) - (r+x) ln(alpha+t_x).
    """
    r, alpha, a, b = theta
    repeat = x > 0
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * log_alpha_T
    # x - 1 is clipped at 0 where x = 0 so B(a+1, b-1) is never evaluated; δ masks A3 there.
    a3 = betaln(a + 1, b + np.maximum(x - 1, 0)) - betaln(a, b) - (r + x) * log_alpha_tx
    a3 = np.where(repeat, a3, -np.inf)
    top = np.maximum(a2, a3)
    e2, e3 = np.exp(a2 - top), np.exp(a3 - top)
    log_l = a1 + top + np.log(e2 + e3)
    w2 = e2 / (e2 + e3)  # share of the "still alive at T" term in L
    w3 = 1.0 - w2
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w2 * log_alpha_T - w3 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (w2 / (alpha + T) + w3 / (alpha + t_x))
    # ∂/∂a ln B(a, b+x) - ∂/∂a ln B(a, b) = ψ(a+b) - ψ(a+b+x), and similarly for the others.
    d_a = w2 * (psi_ab - psi_abx) + w3 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    d_b2 = digamma(b + x) - digamma(b) + psi_ab - psi_abx
    d_b3 = digamma(b + np.maximum(x - 1, 0)) - digamma(b) + psi_ab - psi_abx
    d_b = w2 * d_b2 + w3 * np.where(repeat, d_b3, 0.0)
    grad = np.array([d_r.mean(), d_alpha.mean(), d_a.mean(), d_b.mean()])
    return -float(log_l.mean()), -grad


def bgnbd_p_alive(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """Return P(still active at T | history), each in [0, 1].

    FHL 2005 (and Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD model", 2008):
    P(alive) = 1 / (1 + δ(x>0) · a/(b+x-1) · ((alpha+T)/(alpha+t_x))^(r+x)), computed in log-space.
    """
    x, t_x, T = history_arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    log_odds_dead = (
        np.log(a)
        - np.log(b + np.maximum(x - 1, 0))
        + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    p_alive = 1.0 / (1.0 + np.exp(np.minimum(log_odds_dead, 700.0)))
    return np.where(repeat, p_alive, 1.0)


def bgnbd_expected_purchases(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """Return E[purchases in (T, T+t] | history], each ≥ 0 (FHL 2005, eq. 10).

    E = P(alive) · (a+b+x-1)/(a-1)
        · [1 - ((alpha+T)/(alpha+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x-1; z)]
    with z = t/(alpha+T+t). Euler's transformation
    ₂F₁(A, B; C; z) = (1-z)^(C-A-B) ₂F₁(C-A, C-B; C; z) turns the bracket into
    1 - (1-z)^(a-1) · ₂F₁(a+b-1-r, a-1; a+b+x-1; z), whose series is
    short and stays finite for large x. a = 1 is a removable singularity; a is moved off it.
    Raise ModelError if, for extreme parameters, neither form is finite.
    """
    x, t_x, T = history_arrays(x, t_x, T)
    if t < 0:
        raise ValueError("The horizon t must be ≥ 0.")
    r, alpha, b = params.r, params.alpha, params.b
    a = params.a if abs(params.a - 1.0) > 1e-4 else 1.0 + 1e-4
    # a + b = 1 makes ₂F₁'s c = a+b+x-1 zero for x = 0, where the bracket's pole meets the
    # factor (a+b+x-1) = 0: a removable singularity too, so b is moved off it.
    b = b if abs(a + b - 1.0) > 1e-4 else 1.0 - a + 1e-4
    z = t / (alpha + T + t)
    with np.errstate(invalid="ignore", over="ignore"):
        euler = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(
            a + b - 1.0 - r, a - 1.0, a + b + x - 1, z
        )
        bad = ~np.isfinite(euler)
        if np.any(bad):  # extreme parameters: try the untransformed form on those customers
            direct = np.exp((r + x[bad]) * np.log1p(-z[bad])) * hyp2f1(
                r + x[bad], b + x[bad], a + b + x[bad] - 1.0, z[bad]
            )
            euler[bad] = direct
    if not np.all(np.isfinite(euler)):
        raise ModelError(ERROR_NOT_CONVERGED, model=MODEL_NAME, reason=REASON_NOT_FINITE_SCORE)
    expected = bgnbd_p_alive(params, x, t_x, T) * (a + b + x - 1.0) / (a - 1.0) * (1.0 - euler)
    return np.maximum(expected, 0.0)  # rounding may leave -1e-17 where nothing is expected


def bgnbd_p_any_purchase(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """Return P(at least one purchase in (T, T+t] | history), each in [0, 1].

    A customer who dropped out buys nothing. One still active at T has not dropped out since
    their last purchase, and in BG/NBD drop-out happens only right after a purchase, so their
    next purchase comes at rate λ whatever p is: P(none in t | active, λ) = e^(-λt). Given
    "active at T", the likelihood in λ is λ^x e^(-λT), so λ ~ Gamma(r+x, alpha+T) and
    E[e^(-λt)] = ((alpha+T)/(alpha+T+t))^(r+x). Hence
    P(none) = (1 - P(alive)) + P(alive) · ((alpha+T)/(alpha+T+t))^(r+x), and
    P(any)  = 1 - P(none) = P(alive) · (1 - ((alpha+T)/(alpha+T+t))^(r+x)).
    """
    x, t_x, T = history_arrays(x, t_x, T)
    if t < 0:
        raise ValueError("The horizon t must be ≥ 0.")
    r, alpha = params.r, params.alpha
    # 1 - ((alpha+T)/(alpha+T+t))^(r+x) = -expm1((r+x) · ln(1 - t/(alpha+T+t))), exact for small t.
    no_purchase_if_alive = np.expm1((r + x) * np.log1p(-t / (alpha + T + t)))
    p_any = bgnbd_p_alive(params, x, t_x, T) * -no_purchase_if_alive
    return np.clip(p_any, 0.0, 1.0)
