"""App configuration for predictions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = _("Predictions")

    def ready(self):
        from predictions.conditions import score_attributes_register
        from predictions.sections import profile_predictions_context
        from predictions.variables import score_variables_register
        from profiles.sections import profile_section

        score_attributes_register()
        score_variables_register()
        profile_section(
            "predictions", "predictions/_profile_scores.html", profile_predictions_context
        )
