"""App configuration for predictions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = _("Predictions")
