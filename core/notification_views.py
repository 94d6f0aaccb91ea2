"""The notifications of the signed-in user: the top bar's badge and menu, the list, mark read."""

from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.models import Notification
from core.notifications import (
    notifications_read,
    notifications_recent,
    notifications_unread_count,
)

MENU_SIZE = 8
PAGE_SIZE = 50


@never_cache
def notification_badge(request):
    """Return the unread count badge (htmx polls it from the top bar)."""
    count = notifications_unread_count(user=request.user)
    return render(request, "core/_notification_badge.html", {"notifications_unread": count})


@never_cache
def notification_menu(request):
    """Return the top bar menu: the latest notifications (htmx loads it when it opens)."""
    rows = notifications_recent(user=request.user, limit=MENU_SIZE)
    return render(request, "core/_notification_menu.html", {"notifications": rows})


@never_cache
def notification_list(request):
    """List the user's notifications, newest first."""
    rows = notifications_recent(user=request.user, limit=PAGE_SIZE)
    return render(request, "core/notifications.html", {"notifications": rows})


def notification_open(request, pk: int):
    """Mark one notification read and go to what it is about."""
    notification = get_object_or_404(Notification, pk=pk, user=request.user)
    notifications_read(user=request.user, pk=notification.pk)
    url = notification.url
    if not url or not url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        url = "notifications"
    return redirect(url)


@require_POST
def notifications_read_all(request):
    """Mark all of the user's notifications read."""
    notifications_read(user=request.user)
    if request.htmx:
        return notification_menu(request)
    return redirect("notifications")
