"""The scores as variables of message templates: ``{{ clv_365d }}``, ``{{ recommendations }}``…

Registered with ``campaigns.variables.template_variable_register`` from
``PredictionsConfig.ready()``; a profile without scores gets None (``[]`` for
recommendations), so ``{% if churn_risk %}`` tells the two apart.
"""

import datetime as dt
from decimal import Decimal
from functools import partial

from campaigns.variables import template_variable_register
from predictions.selectors import scores_of

SAMPLES = {
    "p_alive": 0.82,
    "churn_risk": 0.35,
    "repurchase_probability_90d": 0.65,
    "expected_purchases_90d": 1.4,
    "clv_365d": Decimal("1280.00"),
    "cluster": "loyal-big-spenders",
    "recommendations": ["beauty-serum", "beauty-toner"],
    "scored_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
}


def score_variables_register() -> None:
    """Plug the scores into message templates (idempotent)."""
    for name, sample in SAMPLES.items():
        default = [] if name == "recommendations" else None
        template_variable_register(
            name, sample=sample, load=partial(scores_of, field=name), default=default
        )
