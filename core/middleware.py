"""Require login, and a role, on every page except those marked for end users; give each request
an id."""

import logging
import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from core import logs
from core.roles import ALL_ROLES, ROLE_FREE_VIEWS, user_has_role, user_is_privileged

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


# Browser features the product never uses: no page (nor anything it embeds) may ask for them.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope",
        "magnetometer", "microphone", "midi", "payment", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
)  # fmt: skip
SEEN_KEY = "privileged_seen_at"
_SEEN_EVERY = 60  # seconds: how stale the stored last activity may get before it is written


class SecurityHeadersMiddleware:
    """Add the Permissions-Policy header to every answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class PrivilegedSessionMiddleware:
    """End a superuser's or consent admin's session with the browser, or when left idle.

    Such a session's cookie has no expiry (it ends when the browser closes), and a request
    after PRIVILEGED_SESSION_IDLE_MINUTES without one signs the user out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user_is_privileged(user) and self._idle(request):
            logout(request)
            if not request.path_info.startswith("/api/"):
                return redirect_to_login(request.get_full_path())
        response = self.get_response(request)
        user = getattr(request, "user", None)  # the login view may just have signed one in
        if user is not None and user_is_privileged(user):
            self._touch(request)
        return response

    @staticmethod
    def _idle(request) -> bool:
        seen = request.session.get(SEEN_KEY)
        limit = settings.PRIVILEGED_SESSION_IDLE_MINUTES * 60
        return seen is not None and time.time() - seen > limit

    @staticmethod
    def _touch(request) -> None:
        session = request.session
        if not session.get_expire_at_browser_close():
            session.set_expiry(0)
        now = time.time()
        if now - session.get(SEEN_KEY, 0) > _SEEN_EVERY:
            session[SEEN_KEY] = int(now)


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
