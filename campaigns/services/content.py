"""Personalised campaign content: a sandboxed Jinja2 with a flat whitelist of profile fields.

Operators write ``{{ name }}``, ``{{ city }}`` or ``{{ traits.shoe_size | default("") }}``.
Templates see plain values only (strings, numbers, dates and a copy of ``traits``), never a model
instance, so they cannot reach settings, the ORM or another profile. A template is checked when it
is saved (syntax, unknown variables, a render against a sample profile) and compiled once per
variant, so rendering a large batch costs one compile and one render per message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.urls import NoReverseMatch
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError

from campaigns.services.sandbox import (
    Environment,
    LimitExceeded,
    loops_bound,
    source_check,
    template_render,
    too_deep,
)
from campaigns.services.traits import trait_references, trait_samples
from campaigns.variables import template_variables, variables_load
from core.errors import coded
from core.fields import PROFILE_FIELDS_BY_NAME, TEMPLATE_FIELDS, TEXT_TYPES

# The profile fields a template may use, exposed as plain values under these names (the
# catalogue's ``template`` fields; other code imports this name).
PROFILE_FIELDS = TEMPLATE_FIELDS
# Of those, the ones stored as text: a missing value is shown as "".
_TEXT_FIELDS = tuple(
    name for name in PROFILE_FIELDS if PROFILE_FIELDS_BY_NAME[name].type in TEXT_TYPES
)
LINK_FIELDS = ("unsubscribe_url", "preferences_url")
ALLOWED_VARIABLES = frozenset(PROFILE_FIELDS + LINK_FIELDS)  # plus campaigns.variables


def allowed_variables() -> frozenset[str]:
    """Return every variable a template may use: profile fields, links and registered ones."""
    return ALLOWED_VARIABLES | frozenset(template_variables())


# Error messages (module constants so tests and screens reuse them).
ERROR_SYNTAX = coded("template.syntax", gettext_noop("Line {line}: {message}"))
ERROR_UNKNOWN_VARIABLE = coded(
    "template.unknown_variable", gettext_noop("Unknown variable: {names}. Use one of: {allowed}.")
)
ERROR_UNSAFE = coded(
    "template.unsafe",
    gettext_noop("This template tries to reach something it may not use: {message}"),
)
ERROR_PRIVATE_NAME = coded(
    "template.private_name",
    gettext_noop("Names starting with an underscore are not allowed: {name}."),
)
ERROR_NO_INCLUDES = coded(
    "template.no_includes",
    gettext_noop("Templates cannot include, import or extend other templates."),
)
ERROR_RENDER = coded("template.render", gettext_noop("This template cannot be rendered: {message}"))
ERROR_UNKNOWN_TRAIT = gettext_noop(
    "No profile has the trait “{name}”. Check its spelling, or give a fallback, e.g. "
    "{{{{ traits.{name} | default('') }}}}."
)
ERROR_EMAIL_SUBJECT = coded("template.email_subject", gettext_noop("An email needs a subject."))
ERROR_EMAIL_BODY = coded(
    "template.email_body", gettext_noop("An email needs a text or an HTML body.")
)
ERROR_SMS_TEXT = coded("template.sms_text", gettext_noop("An SMS needs a text."))
ERROR_SMS_HTML = coded(
    "template.sms_html", gettext_noop("An SMS has no HTML body; leave it empty.")
)


class ContentError(Exception):
    """A template failed to render; ``errors`` maps fields to messages a manager can act on."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Rendered:
    """One rendered message (an SMS has text only)."""

    subject: str
    text: str
    html: str


_TEXT_ENV = Environment(autoescape=False)
_HTML_ENV = Environment(autoescape=True)

_FIELDS = ("subject", "body_text", "body_html")


def _env_for(field: str) -> Environment:
    return _HTML_ENV if field == "body_html" else _TEXT_ENV


# --- checking at save time ---------------------------------------------------------------------


class _Refused(Exception):
    """A template that cannot be compiled; the message says why."""


def _parse(source: str, env: Environment) -> nodes.Template:
    """Return the template's tree; raise _Refused if it is malformed, too long or too deep."""
    error = source_check(source)
    if error:
        raise _Refused(error)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise _Refused(_(ERROR_SYNTAX).format(line=exc.lineno, message=exc.message)) from exc
    except (RecursionError, MemoryError) as exc:
        raise _Refused(too_deep()) from exc
    error = source_check(source, ast)
    if error:
        raise _Refused(error)
    return ast


def _compile(ast: nodes.Template, env: Environment):
    """Return the template compiled with every loop bounded; raise _Refused if Python cannot."""
    try:
        return env.from_string(loops_bound(ast))
    except TemplateSyntaxError as exc:
        raise _Refused(_(ERROR_SYNTAX).format(line=exc.lineno, message=exc.message)) from exc
    except (RecursionError, MemoryError, SyntaxError) as exc:
        raise _Refused(too_deep()) from exc


def _render_error(exc: Exception) -> str:
    """Return the message for an exception raised while a template ran.

    Anything a template raises is the template's fault (it runs the operator's code on plain
    values), so every exception becomes a message rather than a server error.
    """
    if isinstance(exc, LimitExceeded):
        return str(exc)
    if isinstance(exc, SecurityError):
        return _(ERROR_UNSAFE).format(message=exc)
    if isinstance(exc, (RecursionError, MemoryError)):
        return too_deep()
    return _(ERROR_RENDER).format(message=exc)


def _static_errors(source: str, env: Environment) -> tuple[str | None, set[str], Any]:
    """Return a syntax/safety error (or None), the variables a template uses and its tree."""
    try:
        ast = _parse(source, env)
    except _Refused as exc:
        return str(exc), set(), None
    if any(True for _name in meta.find_referenced_templates(ast)):
        return _(ERROR_NO_INCLUDES), set(), None
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name and name.startswith("_"):
            return _(ERROR_PRIVATE_NAME).format(name=name), set(), None
    return None, meta.find_undeclared_variables(ast), ast


def sample_context(traits: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return a context with a sample value for every whitelisted variable (and ``traits``)."""
    return {
        "external_id": "C-0001",
        "name": "Li Wei",
        "email": "li.wei@example.com",
        "phone": "+8613800138000",
        "city": "Shanghai",
        "region": "Shanghai",
        "gender": "female",
        "birth_date": dt.date(1990, 5, 17),
        "signup_at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "value_tier": "high",
        "recency_days": 12,
        "frequency": 3,
        "monetary": Decimal("1234.50"),
        "traits": dict(traits or {}),
        "unsubscribe_url": "https://example.com/consent/unsubscribe/sample/",
        "preferences_url": "https://example.com/consent/preferences/sample/",
        **{name: variable.sample for name, variable in template_variables().items()},
    }


def template_ast(source: str, *, field: str = "body_text") -> nodes.Template:
    """Return the parsed template; raise ValueError with the message when it does not parse."""
    try:
        return _parse(source, _env_for(field))
    except _Refused as exc:
        raise ValueError(str(exc)) from exc


class _AnyTraits(dict):
    """Traits where any key reads as a sample value (a check that leaves traits alone)."""

    def __missing__(self, key):
        return "sample"


def _trait_samples(ast: nodes.Template, check_traits: bool) -> tuple[str | None, Mapping]:
    """Return (the error of a trait no profile has, or None; the traits to render with)."""
    if not check_traits:
        return None, _AnyTraits()
    plain = trait_references(ast)[0]
    samples = trait_samples(plain) if plain else {}
    unknown_traits = sorted(plain - set(samples))
    if unknown_traits:
        return _(ERROR_UNKNOWN_TRAIT).format(name=unknown_traits[0]), samples
    return None, samples


def template_check(
    source: str, *, field: str = "body_text", check_traits: bool = True
) -> str | None:
    """Return the error of one template (syntax, unknown variable, unsafe use, a limit, a trait
    no profile has), or None. ``check_traits=False`` skips the traits' look-up (a template
    checked before, on a hot path)."""
    env = _env_for(field)
    error, names, ast = _static_errors(source, env)
    if error:
        return error
    allowed = allowed_variables()
    unknown = sorted(names - allowed)
    if unknown:
        return _(ERROR_UNKNOWN_VARIABLE).format(
            names=", ".join(unknown), allowed=", ".join(sorted(allowed))
        )
    trait_error, samples = _trait_samples(ast, check_traits)
    if trait_error:
        return trait_error
    try:
        context = sample_context()
        context["traits"] = samples
        template_render(_compile(ast, env), context)
    except _Refused as exc:
        return str(exc)
    except Exception as exc:  # the operator's template failed: see _render_error
        return _render_error(exc)
    return None


def _sms_shape_errors(values: dict[str, str], complete: bool) -> dict[str, str]:
    errors = {}
    if complete and not values["body_text"].strip():
        errors["body_text"] = _(ERROR_SMS_TEXT)
    if values["body_html"].strip():
        errors["body_html"] = _(ERROR_SMS_HTML)
    return errors


def _email_shape_errors(values: dict[str, str], complete: bool) -> dict[str, str]:
    errors = {}
    if complete and not values["subject"].strip():
        errors["subject"] = _(ERROR_EMAIL_SUBJECT)
    no_body = not values["body_text"].strip() and not values["body_html"].strip()
    if complete and no_body:
        errors["body_text"] = _(ERROR_EMAIL_BODY)
    return errors


def content_check(
    *,
    channel: str,
    subject: str,
    body_text: str,
    body_html: str,
    complete: bool = True,
    check_traits: bool = True,
) -> dict[str, str]:
    """Return errors by field ("subject", "body_text", "body_html"); empty when all is well.

    With ``complete=False`` (a draft being saved) empty fields are not errors yet; the templates
    that are there are still checked.
    """
    values = {"subject": subject or "", "body_text": body_text or "", "body_html": body_html or ""}
    if channel == "sms":
        errors, fields = _sms_shape_errors(values, complete), ("body_text",)
    else:
        errors, fields = _email_shape_errors(values, complete), _FIELDS
    for field in fields:
        if field in errors or not values[field]:
            continue
        error = template_check(values[field], field=field, check_traits=check_traits)
        if error:
            errors[field] = error
    return errors


# --- rendering ---------------------------------------------------------------------------------


def template_compile(source: str, *, field: str = "body_text"):
    """Return (the compiled template, the variables it reads, the trait keys it reads); raise
    ContentError({field: message}) when it cannot be compiled."""
    env = _env_for(field)
    try:
        ast = _parse(source, env)
        traits: set[str] = set()
        traits.update(*trait_references(ast))
        return _compile(ast, env), meta.find_undeclared_variables(ast), traits
    except _Refused as exc:
        raise ContentError({field: str(exc)}) from exc


def template_fill(template, context: Mapping[str, Any], *, field: str) -> str:
    """Render a compiled template; raise ContentError({field: message}) when it fails."""
    try:
        return template_render(template, context)
    except Exception as exc:  # the operator's template failed: see _render_error
        raise ContentError({field: _render_error(exc)}) from exc


class CompiledContent:
    """A variant's templates compiled once; ``render`` fills them for one profile."""

    def __init__(self, *, channel: str, subject: str, body_text: str, body_html: str):
        self.channel = channel
        self._templates = {}
        names: set[str] = set()
        traits: set[str] = set()
        parts = {"body_text": body_text}
        if channel != "sms":
            parts.update(subject=subject, body_html=body_html)
        for field, source in parts.items():
            if not source:
                continue
            template, used, read = template_compile(source, field=field)
            self._templates[field] = template
            names |= used
            traits |= read
        self.variables = frozenset(names)  # every name the templates read from the context
        self.uses_links = bool(names & set(LINK_FIELDS))
        self.trait_keys = frozenset(traits)  # the trait keys the templates read

    def sample_render(self) -> Rendered:
        """Return the message with sample values (and real values of the traits it reads)."""
        return self.render(sample_context(trait_samples(self.trait_keys)))

    def render(self, context: Mapping[str, Any]) -> Rendered:
        """Return the message for one context; raise ContentError when a template fails."""
        out = {}
        for field in _FIELDS:
            template = self._templates.get(field)
            if template is None:
                out[field] = ""
                continue
            out[field] = template_fill(template, context, field=field)
        return Rendered(
            subject=" ".join(out["subject"].split()), text=out["body_text"], html=out["body_html"]
        )


@lru_cache(maxsize=512)
def _compiled(channel: str, subject: str, body_text: str, body_html: str) -> CompiledContent:
    return CompiledContent(
        channel=channel, subject=subject, body_text=body_text, body_html=body_html
    )


def variant_compile(*, campaign, variant) -> CompiledContent:
    """Return the variant's compiled templates (cached by content, so an edit recompiles)."""
    return _compiled(campaign.channel, variant.subject, variant.body_text, variant.body_html)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, Decimal, dt.date)):
        return value
    return str(value)  # e.g. a PhoneNumber: its E.164 string


def profile_context(profile: Any) -> dict[str, Any]:
    """Return the whitelisted fields of a profile (instance or mapping) as plain values."""
    get = profile.get if isinstance(profile, Mapping) else lambda k: getattr(profile, k, None)
    context = {field: _plain(get(field)) for field in PROFILE_FIELDS if field != "traits"}
    for field in _TEXT_FIELDS:
        if context[field] is None:
            context[field] = ""
    traits = get("traits")
    context["traits"] = dict(traits) if isinstance(traits, Mapping) else {}
    return context


def _profile_id(profile: Any) -> int | None:
    if isinstance(profile, Mapping):
        return profile.get("id") or profile.get("pk")
    return getattr(profile, "pk", None)


def consent_links(*, campaign, profile_id: int | None) -> dict[str, str]:
    """Return the signed unsubscribe and preference URLs of a profile for this campaign."""
    from profiles.services.consent_links import consent_preferences_url, consent_unsubscribe_url

    if profile_id is None:
        return {"unsubscribe_url": "", "preferences_url": ""}
    from campaigns.channels import channel_get

    channel = channel_get(campaign.channel).consent_for(campaign)
    kwargs = {"profile_id": profile_id, "channel": channel, "purpose": campaign.purpose}
    try:
        return {
            "unsubscribe_url": consent_unsubscribe_url(**kwargs),
            "preferences_url": consent_preferences_url(**kwargs),
        }
    except NoReverseMatch:  # the public consent pages are not routed in this deployment
        return {"unsubscribe_url": "", "preferences_url": ""}


def message_render(*, campaign, variant, profile, extra: dict | None = None) -> Rendered:
    """Return the variant's message for one profile; raise ContentError if it cannot render.

    ``extra`` may supply ``unsubscribe_url``/``preferences_url`` (otherwise they are signed here,
    only when the content uses them) or any other value the caller controls.
    """
    compiled = variant_compile(campaign=campaign, variant=variant)
    context = profile_context(profile)
    profile_id = _profile_id(profile)
    if profile_id is not None:
        context.update(variables_load(compiled.variables, [profile_id])[profile_id])
    else:
        context.update({n: v.default for n, v in template_variables().items()})
    extra = extra or {}
    if compiled.uses_links and not all(k in extra for k in LINK_FIELDS):
        context.update(consent_links(campaign=campaign, profile_id=profile_id))
    else:
        context.update({k: "" for k in LINK_FIELDS})
    context.update(extra)
    return compiled.render(context)
