"""App configuration for profiles."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = _("Profiles")

    def ready(self):
        from core.jobs import job_kind
        from profiles.ingest.job import import_job
        from profiles.services.consent_import import CONSENT_IMPORT_JOB_KIND, consent_import_job
        from profiles.services.features import features_job
        from profiles.services.tags import tag_bulk_job

        job_kind("profiles.import", import_job, label=_("Import"))
        job_kind(CONSENT_IMPORT_JOB_KIND, consent_import_job, label=_("Consent import"))
        job_kind("profiles.tags_bulk", tag_bulk_job, label=_("Bulk tagging"))
        job_kind("profiles.features", features_job, label=_("Feature refresh"))

        from profiles.exports import EXPORT_JOB_KIND, export_job, export_kind_register
        from profiles.exports.tables import EXPORT_KINDS

        job_kind(EXPORT_JOB_KIND, export_job, label=_("Export"))
        for kind in EXPORT_KINDS:
            export_kind_register(kind)

        from profiles.audit import audit_register

        audit_register()

        from profiles.sections import profile_section
        from profiles.services.devices import profile_devices_context

        profile_section("devices", "profiles/_profile_devices.html", profile_devices_context)
