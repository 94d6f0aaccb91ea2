"""App configuration for campaigns."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from anymail.signals import tracking

        from campaigns import checks  # noqa: F401 (registers the deploy checks)
        from campaigns.conditions import engagement_condition_register
        from campaigns.exports import EXPORT_KINDS as CAMPAIGNS_EXPORTS
        from campaigns.privacy import (
            profile_sends_erase,
            profile_sends_export,
            tracking_purge,
            webhook_deliveries_erase,
        )
        from campaigns.selectors import profile_messages_context
        from campaigns.services.audience import campaign_sends_move
        from campaigns.services.webhooks import webhook_deliveries_purge_before
        from campaigns.tracking import anymail_tracking_received
        from core.notifications import notification_topic
        from profiles.exports import export_kind_register
        from profiles.sections import profile_section
        from profiles.services.merge import merge_mover
        from profiles.services.privacy import privacy_eraser, privacy_export_section
        from profiles.services.retention import retention_register

        engagement_condition_register()
        for kind in CAMPAIGNS_EXPORTS:
            export_kind_register(kind)
        notification_topic(
            "campaign",
            done=_(
                "Campaign “%(name)s” finished sending: %(sent)s sent, %(failed)s failed, "
                "%(skipped)s skipped."
            ),
            failed=_("Campaign “%(name)s” stopped before sending everything."),
        )
        merge_mover("campaign_sends")(campaign_sends_move)
        privacy_export_section("sends")(profile_sends_export)
        privacy_eraser("campaign_sends")(profile_sends_erase)
        privacy_eraser("webhook_deliveries")(webhook_deliveries_erase)
        retention_register("tracking_events")(tracking_purge)
        retention_register("webhook_deliveries")(webhook_deliveries_purge_before)
        profile_section("messages", "campaigns/_profile_messages.html", profile_messages_context)
        tracking.connect(anymail_tracking_received, dispatch_uid="campaigns.tracking")
