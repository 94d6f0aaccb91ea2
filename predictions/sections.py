"""The predictions section of the 360° profile page: scores in plain words, or why none."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from predictions.labels import likelihood_label
from predictions.selectors import profile_prediction

REASONS = {
    "refused": gettext_lazy("The profile withdrew personalised profiling, so it is not scored."),
    "no_purchase": gettext_lazy("No purchase yet: scores start with the first purchase."),
    "no_refresh": gettext_lazy("The models have not been refreshed yet."),
    "not_scored": gettext_lazy(
        "Not scored by the live refresh (it bought since); the next refresh scores it."
    ),
}


def money_shown(amount) -> str:
    """Return an amount in yuan for people: "¥1,280"."""
    return f"¥{float(amount):,.0f}"


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def score_lines(prediction) -> list[dict]:
    """Return the scores of ``prediction`` as sentences, each with its field and level."""
    repurchase = prediction.repurchase_probability_90d
    churn = prediction.churn_risk
    return [
        {
            "field": "repurchase_probability_90d",
            "text": _("Likely to buy again in the next 90 days: %(p)s (%(level)s)")
            % {"p": _percent(repurchase), "level": likelihood_label(repurchase)},
        },
        {
            "field": "churn_risk",
            "text": _("Churn risk: %(p)s (%(level)s)")
            % {"p": _percent(churn), "level": likelihood_label(churn)},
        },
        {
            "field": "p_alive",
            "text": _("Probability still a customer: %(p)s") % {"p": _percent(prediction.p_alive)},
        },
        {
            "field": "expected_purchases_90d",
            "text": _("Expected purchases in the next 90 days: %(n).1f")
            % {"n": prediction.expected_purchases_90d},
        },
        {
            "field": "clv_365d",
            "text": _("Expected value in the next 12 months: %(amount)s")
            % {"amount": money_shown(prediction.clv_365d)},
        },
    ]


def profile_predictions_context(profile) -> dict:
    """Return the section's context: the scores as sentences, cluster, recommendations, reason."""
    found = profile_prediction(profile=profile)
    prediction = found["prediction"]
    return {
        **found,
        "lines": score_lines(prediction) if prediction else [],
        "reason_text": str(REASONS[found["reason"]]) if found["reason"] else "",
    }
