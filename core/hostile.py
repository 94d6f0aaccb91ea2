"""Refuse requests that no page can serve: a NUL byte in the path, the query or a posted form.

PostgreSQL cannot store or compare a string holding NUL, so ``/profiles/?q=%00`` or
``/segments/%00/`` would reach the database and fail there with a server error. They are
answered before the view runs: a path with NUL names nothing (404), a query or a posted form
(urlencoded or multipart) with one is a 400 (JSON under /api/ and for JSON clients, text
elsewhere). A view that reads such input itself (a provider's callback, whose retries must not
be refused) is marked with ``nul_allowed``.
"""

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

ERROR_NUL = gettext_noop("The request holds a NUL character (%00), which no field accepts.")
ERROR_NUL_PATH = gettext_noop("Not found: no address holds a NUL character (%00).")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _fields_with_nul(request) -> list[str]:
    """Return the names of the query's and urlencoded form's fields holding a NUL byte."""
    items = list(request.GET.lists())
    if request.method == "POST" and request.content_type in _FORMS:
        items += list(request.POST.lists())
    return [
        key.replace("\x00", "") or "detail"
        for key, values in items
        if "\x00" in key or any("\x00" in value for value in values)
    ]


def nul_allowed(view):
    """Mark ``view`` as taking NUL bytes in its form itself (put it outermost)."""
    view.nul_allowed = True
    return view


def _refusal(request, message: str, status: int, fields=("detail",)) -> HttpResponse:
    """Answer ``message`` under each field (the API's error shape), or as plain text."""
    wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    if wants_json:
        body = {"detail": message} if status == 404 else {f: [message] for f in fields}
        return JsonResponse(body, status=status)
    text = message if status == 404 else f"{message} ({', '.join(fields)})"
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


class NulRefusedMiddleware:
    """Answer 404 to a path with a NUL byte, 400 to a query string or posted form with one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            return _refusal(request, _(ERROR_NUL_PATH), 404)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "nul_allowed", False):
            return None
        fields = _fields_with_nul(request)
        return _refusal(request, _(ERROR_NUL), 400, fields) if fields else None
