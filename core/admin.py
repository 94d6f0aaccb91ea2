"""Admin for jobs, worker heartbeats, API tokens and notifications."""

from django.contrib import admin

from core.models import ApiToken, Job, Notification, WorkerHeartbeat


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


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Read the notifications sent (the work that finishes makes them)."""

    list_display = ["id", "user", "topic", "level", "created_at", "read_at"]
    list_filter = ["topic", "level"]
    search_fields = ["user__username"]
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request):
        return False
