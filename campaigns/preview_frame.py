"""The HTML preview of a message, framed from its own address under its own policy.

An email's HTML carries inline styles and remote images that the back-office's
Content-Security-Policy refuses, and a ``srcdoc`` frame would inherit that policy. So the rendered
HTML is kept for a few minutes in the cache under a random key for the user who previewed it, and
served to a sandboxed frame with a policy that allows styles and images but no script at all.
"""

import secrets

from csp.decorators import csp
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin

from core.roles import CAMPAIGN_MANAGER, require_role

KEEP_SECONDS = 600
# No script, no form, no plugin: only what an email's HTML may show.
FRAME_POLICY = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'", "*"],
    "img-src": ["*", "data:"],
    "font-src": ["*", "data:"],
    "frame-ancestors": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
}


def _cache_key(user_id: int, key: str) -> str:
    return f"campaigns:preview-html:{user_id}:{key}"


def preview_html_url(*, user, html: str) -> str:
    """Keep ``html`` for ``user`` for KEEP_SECONDS; return the address its frame loads it from."""
    key = secrets.token_urlsafe(16)
    cache.set(_cache_key(user.pk, key), html, KEEP_SECONDS)
    return reverse("campaigns:preview-html", kwargs={"key": key})


@never_cache
@xframe_options_sameorigin
@csp(FRAME_POLICY)
def preview_html(request, key: str):
    """Serve a kept preview to its user's frame, under FRAME_POLICY; 404 once it is gone."""
    require_role(request.user, CAMPAIGN_MANAGER)
    html = cache.get(_cache_key(request.user.pk, key))
    if html is None:
        raise Http404
    return HttpResponse(html)
