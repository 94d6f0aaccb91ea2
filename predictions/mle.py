"""Maximum likelihood on log-parameters with L-BFGS-B, shared by the purchase models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

from predictions.errors import (
    ERROR_NOT_CONVERGED,
    REASON_NOT_FINITE,
    REASON_UNBOUNDED,
    ModelError,
)

# Each parameter is searched as log(θ) within these bounds: θ from about 1e-6 to 1e6 keeps
# gammaln and the powers finite while leaving every realistic fit far inside.
LOG_BOUND = 14.0


def maximise_log_likelihood(
    neg_ll_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    model: str,
    may_run_off: Sequence[bool] = (),
) -> np.ndarray:
    """Return the parameters (not their logs) minimising ``neg_ll_and_grad`` over log-parameters.

    ``neg_ll_and_grad(theta)`` takes the parameters themselves and returns the negative mean
    log-likelihood and its gradient with respect to them; the chain rule to log-space is here.
    Raise ModelError when the optimiser fails or ends on a non-finite value, or when a
    parameter runs to a bound, unless ``may_run_off`` allows it for that parameter (a limit
    that is itself a model, such as "nobody drops out" for BG/NBD's dropout parameters).
    """

    def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(log_theta)
        value, grad = neg_ll_and_grad(theta)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(log_theta)
        return value, grad * theta

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    result = minimize(
        objective,
        np.log(start),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8},
    )
    theta = np.exp(result.x)
    if not np.isfinite(result.fun) or not np.all(np.isfinite(theta)):
        raise ModelError(ERROR_NOT_CONVERGED, model=model, reason=REASON_NOT_FINITE)
    allowed = np.array([*may_run_off, *[False] * (len(start) - len(may_run_off))], dtype=bool)
    if np.any((np.abs(result.x) > LOG_BOUND - 0.5) & ~allowed):
        # The likelihood keeps rising towards 0 or infinity: the data cannot pin the model down
        # (e.g. a handful of repeat buyers), and such parameters would give meaningless scores.
        raise ModelError(ERROR_NOT_CONVERGED, model=model, reason=REASON_UNBOUNDED)
    if not result.success and result.status != 2:  # 2: no further progress possible (at optimum)
        raise ModelError(ERROR_NOT_CONVERGED, model=model, reason=str(result.message).lower())
    return theta
