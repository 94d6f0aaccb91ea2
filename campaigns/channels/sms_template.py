"""Map a campaign's SMS to a provider template: the template code and its parameters.

Aliyun and Tencent Cloud send only templates approved beforehand, filled with parameters; the
campaign's rendered text is not what goes out. A variant names its template in its ``fields``
(the channel registry's content form)::

    {"template_code": "SMS_123", "params": {"name": "{{ name }}", "city": "{{ city }}"}}

``sms_message`` is the one place that turns a row's rendered fields into an ``SmsMessage``;
``sms_template`` is the one place a backend reads the template from. A variant without a
template code is sent with ``SMS_TEMPLATE_CODE``, its rendered text as the one parameter named
``SMS_TEMPLATE_TEXT_PARAM`` (a template such as ``${content}``).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaigns.sms import SmsMessage

ERROR_NO_TEMPLATE = _(
    "This SMS names no provider template: give the variant a template code, "
    "or set SMS_TEMPLATE_CODE."
)
ERROR_BAD_PARAMS = _("The SMS template parameters must map names to texts, not %(kind)s.")


class TemplateMissing(ValueError):
    """The message cannot go out: it has no template code, or its parameters are unusable."""


@dataclass(frozen=True)
class SmsTemplate:
    """A provider template and the parameters that fill it, in the variant's order."""

    code: str
    params: dict[str, str]


def sms_message(*, to: str, reference: str, text: str, fields: Mapping | None) -> SmsMessage:
    """Return the SMS of one row: ``fields`` are the variant's rendered fields (or None)."""
    fields = fields or {}
    params = fields.get("params")
    if params is not None and not isinstance(params, Mapping):
        raise TemplateMissing(str(ERROR_BAD_PARAMS % {"kind": type(params).__name__}))
    return SmsMessage(
        to=to,
        text=text,
        reference=reference,
        template_code=str(fields.get("template_code") or "").strip(),
        params={str(name): str(value) for name, value in (params or {}).items()},
    )


def sms_template(message: SmsMessage) -> SmsTemplate:
    """Return the template ``message`` goes out with; raise ``TemplateMissing`` if none."""
    if message.template_code:
        return SmsTemplate(message.template_code, dict(message.params or {}))
    if settings.SMS_TEMPLATE_CODE:
        return SmsTemplate(
            settings.SMS_TEMPLATE_CODE, {settings.SMS_TEMPLATE_TEXT_PARAM: message.text}
        )
    raise TemplateMissing(str(ERROR_NO_TEMPLATE))


def ordered_values(params: Mapping[str, str]) -> list[str]:
    """Return the values of positional template parameters ({1}, {2} … on Tencent Cloud):
    by number when every name is a number, else in the order given."""
    if params and all(name.isdigit() for name in params):
        return [params[name] for name in sorted(params, key=int)]
    return list(params.values())
