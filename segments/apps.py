"""App configuration for segments."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = _("Segments")

    def ready(self):
        from core.notifications import notification_topic
        from profiles.exports import export_kind_register
        from profiles.services.merge import merge_mover
        from profiles.services.privacy import privacy_export_section
        from segments.builtins import builtins_register
        from segments.exports import EXPORT_KINDS
        from segments.privacy import profile_segments_export
        from segments.services import segment_memberships_move

        builtins_register()
        merge_mover("segment_memberships")(segment_memberships_move)
        privacy_export_section("segments")(profile_segments_export)
        for kind in EXPORT_KINDS:
            export_kind_register(kind)
        notification_topic(
            "segment",
            done=_(
                "Segment “%(name)s” evaluated: %(size)s members (%(entered)s in, %(exited)s out)."
            ),
            failed=_("Segment “%(name)s” could not be evaluated: it keeps its last members."),
        )
