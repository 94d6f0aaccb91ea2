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
        from campaigns.services.audience import campaign_sends_move
        from campaigns.tracking import anymail_tracking_received
        from profiles.services.merge import merge_mover

        engagement_condition_register()
        merge_mover("campaign_sends")(campaign_sends_move)
        tracking.connect(anymail_tracking_received, dispatch_uid="campaigns.tracking")
