"""Form fields for the content parts of the channels that declare them (a WeChat template's id,
data and link; a push's title and body …), used by the composer's variant form and its preview.

Each part of each such channel is a field named ``<channel>__<part>``; the composer shows those
of the chosen channel. A ``params`` part (name → template) is typed one per line as
``name = value``. Parts are checked as ``campaigns.services.channel_content`` checks them.
"""

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.channels import channel_get, channels_all
from campaigns.channels.base import PARAMS, PLAIN, TEXT, ChannelSpec, ContentField
from campaigns.services.channel_content import fields_check

PART_SEP = "__"
ERROR_PARAM_LINE = _("Line {line} is not “name = value”: {text}")
PARAMS_HELP = _("One per line: name = value, e.g. keyword1 = {{ name }}")


def part_name(key: str, name: str) -> str:
    return f"{key}{PART_SEP}{name}"


def form_field(part: ContentField) -> forms.Field:
    """Return the form field that edits one part (never required: drafts may be incomplete)."""
    help_text = part.help_text or (PARAMS_HELP if part.kind == PARAMS else "")
    if part.kind in (PARAMS, TEXT):
        widget = forms.Textarea(attrs={"rows": 4})
        return forms.CharField(
            label=part.label, required=False, widget=widget, help_text=help_text, strip=False
        )
    return forms.CharField(
        label=part.label, required=False, max_length=part.max_length, help_text=help_text
    )


def part_text(part: ContentField, value: Any) -> str:
    """Return a stored part's value as its field shows it."""
    if part.kind == PARAMS and isinstance(value, Mapping):
        return "\n".join(f"{name} = {text}" for name, text in value.items())
    return "" if value is None else str(value)


def params_parse(text: str) -> tuple[dict[str, str], str]:
    """Return the ``name = value`` lines as a dict, and an error for a line that is not one."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            return values, str(ERROR_PARAM_LINE).format(line=number, text=line.strip())
        values[name.strip()] = value.strip()
    return values, ""


def parts_add(form: forms.Form, *, initial_channel: str) -> dict[str, list[str]]:
    """Add every parted channel's fields to ``form``, filled from ``form.initial["fields"]``
    for ``initial_channel``; return {channel key: its field names}."""
    stored = form.initial.get("fields") or {}
    parted: dict[str, list[str]] = {}
    for key, spec in channels_all().items():
        if not spec.content:
            continue
        parted[key] = []
        for part in spec.content:
            name = part_name(key, part.name)
            form.fields[name] = form_field(part)
            if key == initial_channel and part.name in stored:
                form.initial[name] = part_text(part, stored[part.name])
            parted[key].append(name)
    return parted


def parts_values(spec: ChannelSpec, read: Callable[[str], str]) -> tuple[dict, dict[str, str]]:
    """Return a channel's parts as ``Variant.fields`` holds them (``read(field name)`` gives each
    typed text), and errors by part for text that cannot be read."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for part in spec.content:
        text = read(part_name(spec.key, part.name)) or ""
        if part.kind == PARAMS:
            parsed, error = params_parse(text)
            if error:
                errors[part.name] = error
            if parsed:
                values[part.name] = parsed
        elif text.strip():
            values[part.name] = text.strip() if part.kind == PLAIN else text
    return values, errors


def parts_clean(form: forms.Form, names: list[str]) -> dict:
    """Return the form's parts for its channel, adding their errors to the fields."""
    spec = channel_get(form.channel)
    values, errors = parts_values(spec, lambda name: form.cleaned_data.get(name, ""))
    for place, error in {**fields_check(spec, values, complete=False), **errors}.items():
        part, _dot, key = place.partition(".")
        name = part_name(spec.key, part)
        form.add_error(name if name in names else None, f"{key}: {error}" if key else error)
    return values
