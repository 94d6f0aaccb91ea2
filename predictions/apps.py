"""App configuration for predictions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = _("Predictions")

    def ready(self):
        from core.jobs import job_kind
        from predictions.api.serializers import profile_predictions_field
        from predictions.conditions import score_attributes_register
        from predictions.labels import PHASE_LABELS
        from predictions.privacy import profile_scores_export
        from predictions.sections import profile_predictions_context
        from predictions.services import REFRESH_JOB_KIND, predictions_job
        from predictions.variables import score_variables_register
        from profiles.api.serializers import profile_detail_field
        from profiles.sections import profile_section
        from profiles.services.privacy import privacy_export_section

        score_attributes_register()
        score_variables_register()
        privacy_export_section("scores")(profile_scores_export)
        job_kind(
            REFRESH_JOB_KIND,
            predictions_job,
            label=_("Prediction refresh"),
            messages=PHASE_LABELS,
        )
        profile_detail_field("predictions", profile_predictions_field)
        profile_section(
            "predictions", "predictions/_profile_scores.html", profile_predictions_context
        )
