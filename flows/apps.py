"""App configuration for flows."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = _("Flows")

    def ready(self):
        from flows.api.serializers import profile_flows_field
        from flows.hooks import hooks_register
        from flows.privacy import profile_flows_erase, profile_flows_export
        from flows.profile import profile_flows_context
        from profiles.api.serializers import profile_detail_field
        from profiles.sections import profile_section
        from profiles.services.privacy import privacy_eraser, privacy_export_section

        hooks_register()
        privacy_export_section("flows")(profile_flows_export)
        privacy_eraser("flows")(profile_flows_erase)
        profile_detail_field("flows", profile_flows_field)
        profile_section("flows", "flows/profile_section.html", profile_flows_context)
