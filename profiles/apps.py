"""App configuration for profiles."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = _("Profiles")

    def ready(self):
        from core.jobs import job_kind

        job_kind("profiles.import", "profiles.ingest.job.import_job")
        job_kind("profiles.tags_bulk", "profiles.services.tags.tag_bulk_job")
        job_kind("profiles.features", "profiles.services.features.features_job")

        from profiles.audit import audit_register

        audit_register()
