"""The Gamma-Gamma model of spend per purchase: fit and each customer's expected spend.

Reference: P. S. Fader and B. G. S. Hardie, "The Gamma-Gamma Model of Monetary Value", 2013
(a note expanding P. S. Fader, B. G. S. Hardie and K. L. Lee, "RFM and CLV: Using Iso-Value
Curves for Customer Base Analysis", Journal of Marketing Research 42(4), 2005).

Each purchase amount is Gamma(p, nu) (shape, rate) for a customer, and nu ~ Gamma(q, v) across
customers, independently of how often they buy. A customer's data is ``x``, the number of
purchases behind their mean amount ``z̄``. Following Fader and Hardie, the lead passes x = the
repeat purchases and z̄ = the mean amount of those repeat purchases (the first purchase is often
atypical); the mean over all purchases is an acceptable approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from predictions.errors import ERROR_NO_SPEND, ERROR_SPEND_UNBOUNDED, ModelError
from predictions.mle import maximise_log_likelihood

MODEL_NAME = "Gamma-Gamma"


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters; ``v`` is in the money unit of the data it was fitted on."""

    p: float
    q: float
    v: float

    @property
    def population_mean(self) -> float:
        """Return the mean spend per purchase across customers, E[p/nu] = p·v/(q-1)."""
        return self.p * self.v / (self.q - 1.0)

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as plain floats (for JSON)."""
        return {"p": self.p, "q": self.q, "v": self.v}


def _spend_arrays(frequency, monetary_mean) -> tuple[np.ndarray, np.ndarray]:
    x, z = (np.asarray(v, dtype=float).ravel() for v in (frequency, monetary_mean))
    if len(x) != len(z):
        raise ValueError(f"frequency and monetary_mean differ in length: {len(x)}, {len(z)}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(z))) or np.any(x < 0):
        raise ValueError("frequency must be finite and ≥ 0, monetary_mean finite.")
    return x, z


def gamma_gamma_fit(frequency, monetary_mean) -> GammaGammaParams:
    """Return the maximum-likelihood Gamma-Gamma parameters from the repeat customers.

    Customers with frequency 0 or a mean amount ≤ 0 are left out. Raise ModelError when none is
    left, when the fit fails, or when q ≤ 1 (no finite mean spend, so no expected value).
    """
    x, z = _spend_arrays(frequency, monetary_mean)
    keep = (x > 0) & (z > 0)
    if not np.any(keep):
        raise ModelError(ERROR_NO_SPEND)
    x, z = x[keep], z[keep]
    # Amounts are rescaled to a mean of 1; only v carries the money unit (v' = v / scale).
    scale = float(np.mean(z))
    z = z / scale
    theta = maximise_log_likelihood(
        lambda params: _neg_mean_log_likelihood(params, x, z),
        start=np.array([1.0, 2.0, 1.0]),
        model=MODEL_NAME,
    )
    p, q, v = (float(value) for value in theta)
    if q <= 1.0:
        raise ModelError(ERROR_SPEND_UNBOUNDED, q=q)
    return GammaGammaParams(p=p, q=q, v=v * scale)


def _neg_mean_log_likelihood(theta, x, z) -> tuple[float, np.ndarray]:
    """Return minus the mean log-likelihood of the mean amounts and its gradient in (p, q, v).

    x·z̄ | nu ~ Gamma(p·x, nu) and nu ~ Gamma(q, v) give the marginal density
    f(z̄ | x) = Γ(px+q) / (Γ(px) Γ(q)) · v^q · z̄^(px-1) · x^(px) / (v + x·z̄)^(px+q).
    """
    p, q, v = theta
    px = p * x
    log_vxz = np.log(v + x * z)
    psi_pxq = digamma(px + q)
    log_l = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(z)
        + px * np.log(x)
        - (px + q) * log_vxz
    )
    d_p = x * (psi_pxq - digamma(px) + np.log(z) + np.log(x) - log_vxz)
    d_q = psi_pxq - digamma(q) + np.log(v) - log_vxz
    d_v = q / v - (px + q) / (v + x * z)
    grad = np.array([d_p.mean(), d_q.mean(), d_v.mean()])
    return -float(log_l.mean()), -grad


def gamma_gamma_expected_spend(params: GammaGammaParams, frequency, monetary_mean) -> np.ndarray:
    """Return each customer's expected spend per purchase, each ≥ 0.

    E[Z | x, z̄] = p·(v + x·z̄) / (p·x + q - 1): a weighted mean of the population mean p·v/(q-1)
    and the customer's own z̄, the latter weighing more with more purchases. With x = 0 it is the
    population mean. A mean amount below 0 (refunds) counts as 0.
    """
    x, z = _spend_arrays(frequency, monetary_mean)
    p, q, v = params.p, params.q, params.v
    z = np.where(x > 0, np.maximum(z, 0.0), 0.0)
    return p * (v + x * z) / (p * x + q - 1.0)
