"""The scores as segment rule attributes: ``{"attr": "churn_risk", "op": "gte", "value": 0.7}``.

Segments cannot import predictions (predictions → campaigns → segments), so this app registers
its attributes with ``segments.conditions.attribute_register`` from ``PredictionsConfig.ready()``.
Each reads the profile's row of ``Prediction``: a profile without scores (no purchase yet, or
profiling withdrawn) has no value, so no comparison holds for it (``ne`` and ``is_not_set`` do).
Scores are behaviour: rules leave out profiles that withdrew personalised profiling.
"""

from django.utils.translation import gettext_lazy as _

from predictions.models import Prediction
from predictions.selectors import cluster_names
from segments import rules
from segments.conditions import attribute_register

# attribute name -> value type; the names are the fields of the contract.
SCORE_ATTRIBUTES = {
    "p_alive": rules.DECIMAL,
    "churn_risk": rules.DECIMAL,
    "repurchase_probability_90d": rules.DECIMAL,
    "expected_purchases_90d": rules.DECIMAL,
    "clv_365d": rules.DECIMAL,
    "cluster": rules.TEXT,
    "scored_at": rules.DATETIME,
}


# what the rule builder shows people
SCORE_LABELS = {
    "p_alive": _("Probability still a customer (0–1)"),
    "churn_risk": _("Churn risk (0–1)"),
    "repurchase_probability_90d": _("Probability of buying again in 90 days (0–1)"),
    "expected_purchases_90d": _("Expected purchases in 90 days"),
    "clv_365d": _("Expected value in 12 months (¥)"),
    "cluster": _("Cluster (slug)"),
    "scored_at": _("Scored at"),
}


def _cluster_choices() -> list[tuple[str, str]]:
    """Return (slug, name) of every cluster, for the rule builder's picker."""
    return sorted(cluster_names().items())


def score_attributes_register() -> None:
    """Plug the scores into the segment rule engine (idempotent)."""
    for name, value_type in SCORE_ATTRIBUTES.items():
        attribute_register(
            name,
            value_type=value_type,
            model=Prediction,
            behaviour=True,
            label=SCORE_LABELS[name],
            suggestions=_cluster_choices if name == "cluster" else None,
        )
