"""Admin for segments, their membership and their runs."""

from django.contrib import admin

from segments.models import Segment, SegmentMembership, SegmentRun, SegmentTransition


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "status", "size", "version", "last_run_at"]
    list_filter = ["kind", "status"]
    search_fields = ["=slug", "name"]
    readonly_fields = [
        "status",
        "version",
        "size",
        "last_run_at",
        "last_duration_ms",
        "error",
        "created_at",
        "updated_at",
    ]


@admin.register(SegmentMembership)
class SegmentMembershipAdmin(admin.ModelAdmin):
    list_display = ["segment", "profile", "since", "version_added"]
    list_select_related = ["segment", "profile"]
    raw_id_fields = ["segment", "profile"]
    show_full_result_count = False


@admin.register(SegmentRun)
class SegmentRunAdmin(admin.ModelAdmin):
    list_display = ["segment", "version", "started_at", "finished_at", "size", "entered", "exited"]
    list_select_related = ["segment"]
    list_filter = ["segment"]
    readonly_fields = [f.name for f in SegmentRun._meta.fields]


@admin.register(SegmentTransition)
class SegmentTransitionAdmin(admin.ModelAdmin):
    list_display = ["segment", "profile", "entered", "version", "at"]
    list_filter = ["entered"]
    raw_id_fields = ["segment", "profile"]
    show_full_result_count = False
