"""Admin for journey stages and the stage transition log."""

from django.contrib import admin

from journeys.models import JourneyStage, StageTransition


@admin.register(JourneyStage)
class JourneyStageAdmin(admin.ModelAdmin):
    list_display = ["position", "slug", "name", "active"]
    list_filter = ["active"]


@admin.register(StageTransition)
class StageTransitionAdmin(admin.ModelAdmin):
    list_display = ["profile", "from_stage", "to_stage", "at"]
    list_filter = ["to_stage"]
    raw_id_fields = ["profile"]
    show_full_result_count = False
