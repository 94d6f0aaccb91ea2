"""Words for people: the names of features, models and score bands, in the user's language."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

EVENT_WINDOW_SUFFIX = "_90d"

FEATURE_LABELS = {
    "repeat_days": gettext_lazy("Repeat purchase days"),
    "recency_days": gettext_lazy("Days since the last purchase"),
    "average_order": gettext_lazy("Average order value"),
    "total_spend": gettext_lazy("Total spend"),
    "age_days": gettext_lazy("Days since the first purchase"),
    "active_span_days": gettext_lazy("Days between the first and the last purchase"),
    "frequency": gettext_lazy("Repeat purchase days"),
    "monetary_mean": gettext_lazy("Average order value"),
    "opens": gettext_lazy("Emails opened"),
    "clicks": gettext_lazy("Links clicked"),
    "days_since_last_event": gettext_lazy("Days since the last event"),
}

MODEL_LABELS = {
    "bgnbd": gettext_lazy("BG/NBD + Gamma-Gamma"),
    "supervised": gettext_lazy("Gradient boosting on events"),
    "recency": gettext_lazy("Recency only (baseline)"),
}

# The phases of a refresh, as its report names them.
PHASE_LABELS = {
    "features": gettext_lazy("Computing features"),
    "models": gettext_lazy("Fitting and comparing the purchase models"),
    "clusters": gettext_lazy("Finding clusters"),
    "rules": gettext_lazy("Mining association rules"),
    "write": gettext_lazy("Writing scores"),
}

# Churn-risk bands of the dashboard matrix and the 360° page: [low, high) of the score.
CHURN_BANDS = (
    ("low", 0.0, 0.3, gettext_lazy("Low churn risk (< 30%)")),
    ("medium", 0.3, 0.7, gettext_lazy("Medium churn risk (30–70%)")),
    ("high", 0.7, None, gettext_lazy("High churn risk (≥ 70%)")),
)


def feature_label(name: str) -> str:
    """Return the name of feature ``name`` for people ("“signup” events in the last 90 days")."""
    if name in FEATURE_LABELS:
        return str(FEATURE_LABELS[name])
    if name.endswith(EVENT_WINDOW_SUFFIX):
        event = name.removesuffix(EVENT_WINDOW_SUFFIX)
        return _("“%(event)s” events in the last 90 days") % {"event": event}
    return name


def model_label(key: str) -> str:
    """Return the name of model ``key`` for people (the key itself when unknown)."""
    return str(MODEL_LABELS.get(key, key))


def phase_label(name: str) -> str:
    """Return the name of a refresh's phase for people (the name itself when unknown)."""
    return str(PHASE_LABELS.get(name, name))


def likelihood_label(probability: float) -> str:
    """Return how to read a probability: high (≥ 70%), medium (≥ 30%) or low."""
    if probability >= 0.7:
        return _("high")
    if probability >= 0.3:
        return _("medium")
    return _("low")
