"""Rate limits of the public endpoints (no login), with django-ratelimit, counted in the cache.

A signed link (tracking pixel and redirect, unsubscribe, preferences, opt-in confirmation) is
answered at most PUBLIC_LINK_RATE_PER_MINUTE times a minute, whoever calls it (mail providers
fetch pixels and post one-click unsubscribes from a few shared addresses, so those are counted
per link); the end-user pages also at most PUBLIC_ADDRESS_RATE_PER_MINUTE times a minute per
address, and the inbound SMS endpoint SMS_INBOUND_RATE_PER_MINUTE. Past a limit: 429.
"""

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django_ratelimit.decorators import ratelimit

ERROR_TOO_MANY = _("Too many requests: try again in a minute.")


def _per_minute(setting: str):
    def rate(group, request) -> str:
        return f"{getattr(settings, setting)}/m"

    return rate


def _link(group, request) -> str:
    """Return the signed token of the link being called (the key of its counter)."""
    return str(request.resolver_match.kwargs.get("token", ""))


def link_rate_limited(view):
    """Limit one signed link to PUBLIC_LINK_RATE_PER_MINUTE calls a minute."""
    return ratelimit(
        group="public.link", key=_link, rate=_per_minute("PUBLIC_LINK_RATE_PER_MINUTE")
    )(view)


def address_rate_limited(setting: str, group: str):
    """Limit one address to ``setting`` calls a minute of the views in ``group``."""
    return ratelimit(group=group, key="ip", rate=_per_minute(setting))


def too_many_requests(request, exception) -> HttpResponse:
    """Answer a request past a limit (RATELIMIT_VIEW): 429, to retry after a minute."""
    response = HttpResponse(str(ERROR_TOO_MANY), status=429, content_type="text/plain")
    response["Retry-After"] = "60"
    return response
