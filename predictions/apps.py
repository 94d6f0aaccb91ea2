"""App configuration for predictions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = _("Predictions")

    def ready(self):
        from predictions.conditions import score_attributes_register
        from predictions.variables import score_variables_register

        score_attributes_register()
        score_variables_register()
