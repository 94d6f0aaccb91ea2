"""What people call the parts of a rule: attributes, operators, events, channels (translated).

One wording for the rule builder (``segments.views``), the sentence a rule reads as
(``segments.sentence``) and the pages that show rules; the raw name stays available next to it
(a tooltip), since the JSON and the API use it.
"""

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from profiles.labels import EVENT_LABELS, event_label  # noqa: F401 (the builder's words)
from profiles.models import ConsentChannel, Profile
from segments.conditions import attributes

# Attribute operators, as words between the attribute and its value.
OPERATOR_LABELS = {
    "eq": pgettext_lazy("rule operator", "equals"),
    "ne": pgettext_lazy("rule operator", "does not equal"),
    "lt": pgettext_lazy("rule operator", "is less than"),
    "lte": pgettext_lazy("rule operator", "is at most"),
    "gt": pgettext_lazy("rule operator", "is greater than"),
    "gte": pgettext_lazy("rule operator", "is at least"),
    "between": pgettext_lazy("rule operator", "is between"),
    "in": pgettext_lazy("rule operator", "is one of"),
    "not_in": pgettext_lazy("rule operator", "is none of"),
    "contains": pgettext_lazy("rule operator", "contains"),
    "startswith": pgettext_lazy("rule operator", "starts with"),
    "is_set": pgettext_lazy("rule operator", "is set"),
    "is_not_set": pgettext_lazy("rule operator", "is not set"),
    "within_last_days": pgettext_lazy("rule operator", "is within the last"),
    "more_than_days_ago": pgettext_lazy("rule operator", "is more than … days ago"),
}
# Comparisons of counts and sums: symbols read the same in both languages.
AGGREGATE_LABELS = {
    "eq": "=",
    "ne": "≠",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
    "between": pgettext_lazy("rule operator", "between"),
}
TAG_OP_LABELS = {
    "has": pgettext_lazy("rule operator", "has"),
    "has_not": pgettext_lazy("rule operator", "has not"),
}
CONSENT_OP_LABELS = {"granted": pgettext_lazy("rule operator", "granted")}
# The consent condition asks about marketing consent on a channel.
CONSENT_CHANNEL_LABELS = {
    ConsentChannel.EMAIL: _("email marketing"),
    ConsentChannel.SMS: _("SMS marketing"),
    ConsentChannel.WECHAT: _("WeChat marketing"),
    ConsentChannel.WECOM: _("WeCom marketing"),
    ConsentChannel.PUSH: _("app push marketing"),
}


def attribute_label(name: str) -> str:
    """Return what people call attribute ``name``: its registered label, the profile field's
    name, "trait …" for a trait, or the name itself."""
    if name.startswith("traits."):
        return str(_("trait “%(key)s”") % {"key": name.removeprefix("traits.")})
    attribute = attributes().get(name)
    if attribute is not None and attribute.label:
        return str(attribute.label)
    try:
        return str(Profile._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def choice_label(attr: str, value) -> str | None:
    """Return the label of a choice value of a profile field (female → 女), None if none."""
    try:
        choices = Profile._meta.get_field(attr).choices or ()
    except FieldDoesNotExist:
        return None
    return next((str(label) for key, label in choices if key == value), None)
