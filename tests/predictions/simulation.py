"""Customers simulated from known BG/NBD and Gamma-Gamma parameters, vectorised with numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimulatedBase:
    """Each customer's calibration history and what they did in the following period."""

    x: np.ndarray  # repeat purchases in (0, T]
    t_x: np.ndarray  # time of the last repeat purchase (0 when x = 0)
    T: np.ndarray  # age at the end of calibration
    future: np.ndarray  # purchases in (T, T + horizon]
    rate: np.ndarray  # each customer's λ
    alive: np.ndarray  # still active at T


def simulate_bgnbd(rng, n, r, alpha, a, b, T, horizon=0.0) -> SimulatedBase:
    """Return ``n`` BG/NBD customers observed for ``T`` (an array) and then for ``horizon``.

    Repeat purchases arrive at rate λ ~ Gamma(r, alpha); after each one the customer drops out with
    probability p ~ Beta(a, b), so they drop out right after their J-th repeat purchase,
    J ~ Geometric(p). With N ~ Poisson(λT) arrivals in (0, T], x = min(N, J), and the x-th of N
    uniform arrival times is T · Beta(x, N - x + 1).
    """
    rate = rng.gamma(shape=r, scale=1.0 / alpha, size=n)
    p = np.clip(rng.beta(a, b, size=n), 1e-12, 1.0)
    drop_after = rng.geometric(p)
    arrivals = rng.poisson(rate * T)
    x = np.minimum(arrivals, drop_after)
    t_x = np.zeros(n)
    bought = x > 0
    t_x[bought] = T[bought] * rng.beta(x[bought], arrivals[bought] - x[bought] + 1)
    alive = arrivals < drop_after
    later = np.minimum(rng.poisson(rate * horizon), drop_after - arrivals)
    future = np.where(alive, later, 0)
    return SimulatedBase(x=x, t_x=t_x, T=T, future=future, rate=rate, alive=alive)


def simulate_spend(rng, x, p, q, v) -> tuple[np.ndarray, np.ndarray]:
    """Return each customer's mean spend over ``x`` purchases (0 when x = 0) and true mean p/nu.

    Gamma-Gamma: each purchase ~ Gamma(p, nu) with nu ~ Gamma(q, v) across customers (rate
    parameters), so the sum of x purchases ~ Gamma(p·x, nu).
    """
    nu = rng.gamma(shape=q, scale=1.0 / v, size=len(x))
    total = np.zeros(len(x))
    some = x > 0
    total[some] = rng.gamma(shape=p * x[some], scale=1.0 / nu[some])
    return np.where(some, total / np.maximum(x, 1), 0.0), p / nu


@dataclass(frozen=True)
class SimulatedShop:
    """A shop's customers at a cut-off (days), their other events, and who bought in 90 days."""

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    monetary: np.ndarray
    extra: np.ndarray  # page views in the 14 days before the cut-off, app opens, feedback
    extra_names: tuple[str, ...]
    label: np.ndarray


def simulate_shop(rng, n, horizon=90.0) -> SimulatedShop:
    """Return ``n`` customers with a known repurchase process and a page-view signal.

    Purchases follow BG/NBD in days (heterogeneous Poisson rates, drop-out after purchases); a
    customer who buys in the ``horizon`` after the cut-off has browsed more in the 14 days
    before it (views ~ Poisson(0.4 + 1.5 · buys)); app opens and feedback are noise.
    """
    T = rng.uniform(60, 720, n)
    base = simulate_bgnbd(rng, n, r=0.6, alpha=40.0, a=1.2, b=4.0, T=T, horizon=horizon)
    label = (base.future > 0).astype(int)
    monetary, _true_mean = simulate_spend(rng, base.x, p=6.0, q=4.0, v=60.0)
    views = rng.poisson(0.4 + 1.5 * label)
    app_opens = rng.poisson(3.0, n)
    feedback = (rng.random(n) < 0.05).astype(float)
    extra = np.column_stack([views, app_opens, feedback]).astype(float)
    return SimulatedShop(
        x=base.x,
        t_x=base.t_x,
        T=T,
        monetary=monetary,
        extra=extra,
        extra_names=("page_views_14d", "app_opens_14d", "feedback_90d"),
        label=label,
    )
