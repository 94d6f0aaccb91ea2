"""Require login, and a role, on every page except those marked for end users; give each request
an id."""

import logging
import time

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from core import logs
from core.roles import ALL_ROLES, ROLE_FREE_VIEWS, user_has_role

access_logger = logging.getLogger("core.access")


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's login requirement, then one of the roles, leaving the REST API alone (it checks
    both itself, by token or session).

    A signed-in user holding no role gets a 403 page on every back-office view but their own
    account's (``core.roles.ROLE_FREE_VIEWS``).
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        refused = super().process_view(request, view_func, view_args, view_kwargs)
        if refused is not None or not getattr(view_func, "login_required", True):
            return refused
        match = request.resolver_match
        if match is not None and match.view_name in ROLE_FREE_VIEWS:
            return None
        if not user_has_role(request.user, *ALL_ROLES):
            return render(request, "core/no_role.html", status=403)
        return None


class RequestIdMiddleware:
    """Give each request an id (X-Request-ID if sane, else new) for its log lines and tasks."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = logs.request_id_from(request.headers.get(logs.REQUEST_ID_HEADER))
        started = time.monotonic()
        with logs.log_context(request_id=request.request_id, user_id=None):
            response = self.get_response(request)
            user = getattr(request, "user", None)
            if not isinstance(user, SimpleLazyObject) and getattr(user, "is_authenticated", False):
                logs.user_id.set(user.pk)  # the REST API's token user, set by the view
            access_logger.info(
                "%s %s %s %.0fms",
                request.method,
                request.path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
        response[logs.REQUEST_ID_HEADER] = request.request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Record the signed-in user (session) once authentication has run (no extra query:
        the login requirement has read it already)."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            logs.user_id.set(user.pk)
        return None
