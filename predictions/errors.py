"""The messages that refuse a model fit, and ModelError carrying one of them."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

MIN_CUSTOMERS = 200  # purchasers needed before any purchase model is fitted

ERROR_TOO_FEW_CUSTOMERS = _(
    "Too few purchasers to fit a purchase model: {count}, at least {minimum} are needed."
)
ERROR_NO_REPEATERS = _(
    "Every purchaser has bought only once, so repeat buying cannot be modelled yet."
)
ERROR_NO_SPEND = _("No repeat purchaser has a positive amount, so spend cannot be modelled.")
ERROR_SPEND_UNBOUNDED = _(
    "The spend model found no finite average spend (q = {q:.3f} ≤ 1); "
    "check the purchase amounts for outliers."
)
ERROR_NOT_CONVERGED = _("The {model} fit did not converge: {reason}.")
REASON_NOT_FINITE = _("the likelihood is not a finite number")
REASON_UNBOUNDED = _("a parameter runs off to 0 or infinity; the data are too few or too uniform")
REASON_NOT_FINITE_SCORE = _("its expected purchases are not finite numbers")
ERROR_ONE_OUTCOME = _(
    "Everyone in the training data {outcome} after the cut-off, so no purchase model can be "
    "trained or compared."
)
OUTCOME_BOUGHT = _("bought")
OUTCOME_DID_NOT_BUY = _("did not buy")


class ModelError(ValueError):
    """Data that cannot be fitted, with a message a user can act on.

    Like Django's ValidationError it keeps the lazy ``message`` and its ``params`` apart, so a
    caller may store ``(message, params)`` and render them later in the reader's language.
    """

    def __init__(self, message: Any, **params: Any):
        self.message = message
        self.params = params
        super().__init__(str(self))

    def __str__(self) -> str:
        params = {
            key: str(value) if isinstance(value, Promise) else value
            for key, value in self.params.items()
        }
        return str(self.message).format(**params)
