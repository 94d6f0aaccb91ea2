"""App configuration for flows."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = _("Flows")

    def ready(self):
        from flows.api.serializers import profile_flows_field
        from flows.hooks import hooks_register
        from flows.profile import profile_flows_context
        from profiles.api.serializers import profile_detail_field
        from profiles.sections import profile_section

        hooks_register()
        profile_detail_field("flows", profile_flows_field)
        profile_section("flows", "flows/profile_section.html", profile_flows_context)
