"""Export links: ``{% export_links "segment-members" segment=segment.slug %}`` shows "CSV" and
"Excel" links to ``/exports/<kind>.<format>`` when the user may export; ``filters=True`` carries
the page's own query string (its filters and sort) over, without its page cursor."""

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from profiles.exports import export_allowed

register = template.Library()

NOT_FILTERS = {"after", "before", "page"}


@register.inclusion_tag("profiles/_export_links.html", takes_context=True)
def export_links(context, kind: str, filters: bool = False, **params):
    """Return the links to export ``kind`` in each format (none if the user may not)."""
    request = context["request"]
    if not export_allowed(request.user, kind):
        return {"links": []}
    query = {}
    if filters:
        query.update(
            (key, value) for key, value in request.GET.items() if value and key not in NOT_FILTERS
        )
    query.update((key, value) for key, value in params.items() if value not in (None, ""))
    suffix = f"?{urlencode(query)}" if query else ""
    return {
        "kind": kind,
        "links": [
            (fmt, reverse("exports:table", args=[kind, fmt]) + suffix) for fmt in ("csv", "xlsx")
        ],
    }
