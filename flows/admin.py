"""Admin for flows, read-mostly: flows change through the editor, the API and their services.

Versions, messages, enrollments and step runs are ledgers the engine writes; the admin shows
them and changes nothing. A flow may only be paused from here (an emergency stop).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from flows.definition import FlowError
from flows.models import Enrollment, Flow, FlowMessage, FlowVersion, StepRun
from flows.services import flow_pause


class ReadOnlyAdmin(admin.ModelAdmin):
    """Show rows; never add, change or delete them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Flow)
class FlowAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "status", "trigger_type", "trigger_key", "created_at"]
    list_filter = ["status", "trigger_type"]
    search_fields = ["name", "slug"]
    actions = ["pause_selected"]

    @admin.action(description=_("Pause the selected live flows"), permissions=["view"])
    def pause_selected(self, request, queryset):
        paused = 0
        for flow in queryset.filter(status=Flow.Status.LIVE):
            try:
                flow_pause(flow=flow, reason="", user=request.user)
            except FlowError as exc:  # pragma: no cover (a live flow is never archived)
                self.message_user(request, str(exc), messages.ERROR)
                continue
            paused += 1
        self.message_user(
            request,
            ngettext("%(n)d flow paused.", "%(n)d flows paused.", paused) % {"n": paused},
        )


@admin.register(FlowVersion)
class FlowVersionAdmin(ReadOnlyAdmin):
    list_display = ["flow", "number", "created_by", "created_at"]
    list_select_related = ["flow", "created_by"]
    search_fields = ["flow__slug"]


@admin.register(FlowMessage)
class FlowMessageAdmin(ReadOnlyAdmin):
    list_display = ["version", "step_key", "campaign"]
    list_select_related = ["version__flow", "campaign"]
    search_fields = ["version__flow__slug", "campaign__slug"]


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ["flow", "profile", "entry", "status", "step_key", "entered_at", "wake_at"]
    list_filter = ["status"]
    list_select_related = ["flow", "profile"]
    search_fields = ["=profile__external_id", "flow__slug"]
    raw_id_fields = ["flow", "version", "profile"]
    show_full_result_count = False


@admin.register(StepRun)
class StepRunAdmin(ReadOnlyAdmin):
    list_display = ["enrollment", "step_key", "status", "outcome", "attempts", "at"]
    list_filter = ["status"]
    raw_id_fields = ["enrollment", "flow"]
    show_full_result_count = False
