"""Admin for jobs, worker heartbeats and API tokens."""

from django.contrib import admin

from core.models import ApiToken, Job, WorkerHeartbeat


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress", "total", "created_at", "finished_at"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in Job._meta.fields]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """List and delete tokens; `manage.py api_token_create` makes them (the key shown once)."""

    list_display = ["prefix", "name", "user", "created_at", "expires_at", "last_used_at"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = [f.name for f in ApiToken._meta.fields]

    def has_add_permission(self, request):
        return False
