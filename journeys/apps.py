"""App configuration for journeys."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = _("Journeys")

    def ready(self):
        from core.jobs import job_kind
        from journeys.conditions import stage_condition_register
        from journeys.exports import EXPORT_KINDS as JOURNEYS_EXPORTS
        from journeys.privacy import profile_stages_export
        from journeys.selectors import profile_journey, stage_names
        from journeys.services import STAGES_JOB_KIND, stage_transitions_move, stages_job
        from profiles.exports import export_kind_register
        from profiles.sections import profile_section
        from profiles.services.merge import merge_mover
        from profiles.services.privacy import privacy_export_section
        from segments.portrait import portrait_labels_register

        stage_condition_register()
        for kind in JOURNEYS_EXPORTS:
            export_kind_register(kind)
        portrait_labels_register("stage", stage_names)
        job_kind(STAGES_JOB_KIND, stages_job, label=_("Journey stage refresh"))
        merge_mover("stage_transitions")(stage_transitions_move)
        privacy_export_section("stages")(profile_stages_export)
        profile_section(
            "journey", "journeys/_profile_stage.html", lambda p: profile_journey(profile=p)
        )
