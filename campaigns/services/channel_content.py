"""Content kept as named fields (``Variant.fields``), for the channels that declare them.

A WeChat template message is a template id, a link and a value per keyword; a push is a title,
a body and a deep link. Their channel lists the parts as ``ContentField``s; this module checks a
variant's values against that list when it is saved (shape, length, each template as email and
SMS templates are checked) and compiles them once per content, so that a batch renders each
message with one render per template.

    errors = fields_check(spec, values)            # {"data.keyword1": "Unknown variable: …"}
    compiled = fields_compile(spec, variant.fields)
    compiled.render(context)                        # {"template_id": "…", "data": {…}, …}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext_noop

from campaigns.channels.base import PARAMS, PLAIN, ChannelSpec, ContentField
from campaigns.services.content import (
    LINK_FIELDS,
    ContentError,
    content_check,
    sample_context,
    template_check,
    template_compile,
    template_fill,
)
from campaigns.services.traits import trait_samples
from core.errors import coded

ERROR_REQUIRED = coded("content.required", gettext_noop("{label} is required."))
ERROR_NOT_TEXT = coded("content.not_text", gettext_noop("{label} must be text."))
ERROR_NOT_PARAMS = coded(
    "content.not_params",
    gettext_noop('{label} must be pairs of a name and a value, e.g. {{"keyword1": "…"}}.'),
)
ERROR_PARAM_NAME = coded(
    "content.param_name",
    gettext_noop("“{name}” is not a name {label} can use: letters, digits, _ and . only."),
)
ERROR_TOO_LONG = coded(
    "content.too_long", gettext_noop("{label} is {length} characters long; the most is {limit}.")
)
ERROR_UNKNOWN_FIELD = coded(
    "content.unknown_field", gettext_noop("This channel has no part named {names}.")
)


def _param_name_ok(name: str) -> bool:
    return bool(name) and len(name) <= 64 and all(ch.isalnum() or ch in "_." for ch in name)


def _value_errors(field: ContentField, value: Any, complete: bool) -> dict[str, str]:
    """Return the shape errors of one field's value (not its templates)."""
    label = str(field.label)
    empty = value in (None, "", {})
    if empty:
        return (
            {field.name: ERROR_REQUIRED.format(label=label)} if field.required and complete else {}
        )
    if field.kind == PARAMS:
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            return {field.name: ERROR_NOT_PARAMS.format(label=label)}
        for name, text in value.items():
            if not _param_name_ok(str(name)):
                return {field.name: ERROR_PARAM_NAME.format(name=name, label=label)}
            if len(text) > field.max_length:
                return {
                    f"{field.name}.{name}": ERROR_TOO_LONG.format(
                        label=f"{label} · {name}", length=len(text), limit=field.max_length
                    )
                }
        return {}
    if not isinstance(value, str):
        return {field.name: ERROR_NOT_TEXT.format(label=label)}
    if len(value) > field.max_length:
        return {
            field.name: ERROR_TOO_LONG.format(
                label=label, length=len(value), limit=field.max_length
            )
        }
    return {}


def fields_check(
    spec: ChannelSpec,
    values: Mapping[str, Any] | None,
    *,
    complete: bool = True,
    check_traits: bool = True,
) -> dict[str, str]:
    """Return errors by part ("template_id", "data.keyword1", …); empty when all is well.

    With ``complete=False`` (a draft) a missing required part is not an error yet. The parts are
    the channel's ``content``, or for a channel with a text body its ``template_content``.
    """
    values = values if isinstance(values, Mapping) else {}
    parts = spec.content or spec.template_content
    known = {field.name for field in parts}
    unknown = sorted(set(values) - known)
    if unknown:
        return {"fields": ERROR_UNKNOWN_FIELD.format(names=", ".join(unknown))}
    errors: dict[str, str] = {}
    for field in parts:
        value = values.get(field.name)
        shape = _value_errors(field, value, complete)
        if shape or value in (None, "", {}) or field.kind == PLAIN:
            errors.update(shape)
            continue
        sources = value.items() if field.kind == PARAMS else [("", value)]
        for name, source in sources:
            error = template_check(source, check_traits=check_traits)
            if error:
                errors[f"{field.name}.{name}" if name else field.name] = error
    if not errors:
        errors.update(spec.content_errors(values, complete=complete))
    return errors


class CompiledFields:
    """A variant's fields compiled once; ``render`` fills them for one profile."""

    def __init__(self, spec: ChannelSpec, values: Mapping[str, Any]):
        self._plain: dict[str, Any] = {}
        self._templates: dict[str, Any] = {}
        self._params: dict[str, dict[str, Any]] = {}
        names: set[str] = set()
        traits: set[str] = set()
        for field in spec.content or spec.template_content:
            value = values.get(field.name)
            if field.kind == PLAIN or value in (None, "", {}):
                self._plain[field.name] = value if value is not None else ""
                continue
            shape = _value_errors(field, value, complete=False)
            if shape:
                raise ContentError(shape)
            sources = value if field.kind == PARAMS else {"": value}
            compiled = {}
            for name, source in sources.items():
                where = f"{field.name}.{name}" if name else field.name
                compiled[name], used, read = template_compile(source, field=where)
                names |= used
                traits |= read
            if field.kind == PARAMS:
                self._params[field.name] = compiled
            else:
                self._templates[field.name] = compiled[""]
        self.variables = frozenset(names)
        self.uses_links = bool(names & set(LINK_FIELDS))
        self.trait_keys = frozenset(traits)

    def render(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Return every part for one context; raise ContentError when a template fails."""
        out: dict[str, Any] = dict(self._plain)
        for name, template in self._templates.items():
            out[name] = template_fill(template, context, field=name)
        for name, templates in self._params.items():
            out[name] = {
                key: template_fill(template, context, field=f"{name}.{key}")
                for key, template in templates.items()
            }
        return out

    def sample_render(self) -> dict[str, Any]:
        """Return the parts with sample values (and real values of the traits they read)."""
        return self.render(sample_context(trait_samples(self.trait_keys)))


@lru_cache(maxsize=256)
def _compiled(key: str, fields_json: str) -> CompiledFields:
    from campaigns.channels import channel_get

    return CompiledFields(channel_get(key), json.loads(fields_json))


def fields_compile(spec: ChannelSpec, values: Mapping[str, Any] | None) -> CompiledFields:
    """Return the compiled fields (cached by content, so an edit recompiles)."""
    return _compiled(spec.key, json.dumps(values or {}, sort_keys=True, ensure_ascii=False))


def fields_preview(spec: ChannelSpec, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the parts rendered with sample values; raise ContentError when they cannot be."""
    errors = fields_check(spec, values, complete=False)
    if errors:
        raise ContentError(errors)
    return fields_compile(spec, values).sample_render()


def field_label(spec: ChannelSpec, where: str) -> str:
    """Return a part's label for an error key such as "data.keyword1"."""
    name, _dot, key = where.partition(".")
    for field in spec.content:
        if field.name == name:
            return f"{field.label} · {key}" if key else str(field.label)
    return where


def variant_errors(
    *, channel: str, values: Mapping[str, Any], complete: bool = True, check_traits: bool = True
) -> dict[str, str]:
    """Return the errors of a variant's content on ``channel`` by place ("subject", "fields.url",
    …): its parts when the channel declares them, else the subject, text and HTML."""
    from campaigns.channels import channel_get

    spec = channel_get(channel)
    if spec.content or values.get("fields"):
        errors = fields_check(
            spec, values.get("fields"), complete=complete, check_traits=check_traits
        )
        errors = {f"fields.{place}": message for place, message in errors.items()}
        if spec.content:
            return errors
    else:
        errors = {}
    return errors | content_check(
        channel=channel,
        subject=str(values.get("subject") or ""),
        body_text=str(values.get("body_text") or ""),
        body_html=str(values.get("body_html") or ""),
        complete=complete,
        check_traits=check_traits,
    )
