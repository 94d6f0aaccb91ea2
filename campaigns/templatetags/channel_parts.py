"""``variant_parts``: a variant's content parts (``Variant.fields``) with their labels, for pages
showing a campaign of a channel that declares parts (a WeChat template's id, data and link)."""

from django import template

from campaigns.channels import channels_all
from campaigns.channels.base import PARAMS

register = template.Library()


@register.filter
def variant_parts(variant, channel: str) -> list[dict]:
    """Return the filled parts of ``variant`` on ``channel``: label, value, and for a part of
    name/value pairs its pairs; empty for channels without parts."""
    spec = channels_all().get(channel)
    stored = getattr(variant, "fields", None) or {}
    if spec is None or not spec.content:
        return []
    parts = []
    for part in spec.content:
        value = stored.get(part.name)
        if value in (None, "", {}):
            continue
        pairs = list(value.items()) if part.kind == PARAMS and hasattr(value, "items") else None
        parts.append({"name": part.name, "label": part.label, "value": value, "pairs": pairs})
    return parts
