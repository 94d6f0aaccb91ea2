"""The flow forms: a new flow (name, slug, trigger) and the flow's settings, read into the
definition's JSON and checked by the definition's own rules (errors come back by place)."""

import copy
import json
import re
from collections.abc import Iterable, Mapping

from django import forms
from django.utils.translation import gettext_lazy as _

from core.jsonlimits import json_loads
from flows.describe import POLICY_LABELS, TRIGGER_LABELS
from flows.triggers_spec import trigger_errors

ERROR_WHERE_JSON = _("Give the properties as a JSON object, e.g. {example}.")
ERROR_RULE_JSON = _("The rule is not valid JSON: {error}")
ERROR_SLUG_RESERVED = _("“{slug}” names a page of the flows section; choose another slug.")
RESERVED_SLUGS = ("new",)
WHERE_EXAMPLE = '{"category": "beauty"}'
# Where a definition error's place (its first part) is shown in the forms.
TRIGGER_FIELDS = {
    "trigger": "trigger_type",
    "trigger.event": "event",
    "trigger.where": "where",
    "trigger.segment": "segment",
    "trigger.stage": "stage",
    "trigger.attr": "date_attr",
    "trigger.offset_days": "offset_days",
    "trigger.time": "time",
    "trigger.message": "message",
    "trigger.campaign": "campaign",
}
SETTING_FIELDS = {
    **TRIGGER_FIELDS,
    "entry_rule": "rule",
    "reentry": "reentry_policy",
    "reentry.days": "reentry_days",
    "exit": "exit_events",
    "goal": "goal_event",
}
TEXT_FIELDS = ("event", "segment", "stage", "trait", "campaign")
DATE_CHOICES = (
    ("birth_date", _("Birthday")),
    ("signup_at", _("Signup date")),
    ("trait", _("A date trait")),
)


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[,，\s]+", text or "") if word]


def field_for(place: str, fields: Mapping[str, str]) -> str | None:
    """Return the form field that shows an error at ``place`` (None: the form's own errors)."""
    candidates = [place, re.split(r"\[", place, maxsplit=1)[0], place.split(".", 1)[0]]
    for candidate in candidates:
        if candidate in fields:
            return fields[candidate]
    return None


def errors_add(form: forms.Form, errors: Iterable[tuple[str, str]], fields: Mapping) -> None:
    """Show definition errors (place, message) on the form's fields."""
    for place, message in errors:
        form.add_error(field_for(place, fields), str(message))


class TriggerForm(forms.Form):
    """What starts the flow, one set of fields per kind of trigger."""

    trigger_type = forms.ChoiceField(
        label=_("Starts when"),
        required=False,
        widget=forms.Select(attrs={"data-toggle": "trigger"}),
    )
    event = forms.CharField(label=_("Event"), required=False, max_length=200)
    where = forms.CharField(
        label=_("With properties (JSON, optional)"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": WHERE_EXAMPLE}),
    )
    segment = forms.CharField(label=_("Segment (slug)"), required=False, max_length=200)
    stage = forms.CharField(label=_("Journey stage (slug)"), required=False, max_length=64)
    date_attr = forms.ChoiceField(label=_("Date"), choices=DATE_CHOICES, required=False)
    trait = forms.CharField(label=_("Trait name"), required=False, max_length=100)
    offset_days = forms.IntegerField(
        label=_("Days after (negative: before)"), required=False, initial=0
    )
    time = forms.CharField(
        label=_("At"),
        required=False,
        initial="09:00",
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    annual = forms.BooleanField(label=_("Every year"), required=False, initial=True)
    message = forms.ChoiceField(
        label=_("Message"),
        required=False,
        choices=(("opened", _("Opened")), ("clicked", _("Clicked"))),
    )
    campaign = forms.CharField(
        label=_("Of campaign (slug; empty: any)"), required=False, max_length=100
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trigger_type"].choices = [
            ("", _("— choose later —")),
            *[(value, label) for value, label in TRIGGER_LABELS.items()],
        ]

    @staticmethod
    def trigger_initial(trigger: Mapping | None) -> dict:
        trigger = trigger or {}
        attr = str(trigger.get("attr") or "birth_date")
        return {
            "trigger_type": trigger.get("type", ""),
            "event": trigger.get("event", ""),
            "where": json.dumps(trigger["where"], ensure_ascii=False)
            if trigger.get("where")
            else "",
            "segment": trigger.get("segment", ""),
            "stage": trigger.get("stage", ""),
            "date_attr": "trait" if attr.startswith("traits.") else attr,
            "trait": attr.removeprefix("traits.") if attr.startswith("traits.") else "",
            "offset_days": trigger.get("offset_days", 0),
            "time": trigger.get("time", "09:00"),
            "annual": trigger.get("annual", True),
            "message": trigger.get("message", "opened"),
            "campaign": trigger.get("campaign", ""),
        }

    def clean_where(self):
        text = self.cleaned_data["where"].strip()
        if not text:
            return {}
        try:
            where = json_loads(text)
        except json.JSONDecodeError:
            where = None
        if not isinstance(where, dict):
            raise forms.ValidationError(str(ERROR_WHERE_JSON).format(example=WHERE_EXAMPLE))
        return where

    def trigger(self) -> dict:
        """Return the trigger's JSON from the cleaned fields ({} when none is chosen)."""
        data = self.cleaned_data
        kind = data.get("trigger_type")
        text = {name: (data.get(name) or "").strip() for name in TEXT_FIELDS}
        if kind == "event":
            where = {"where": data["where"]} if data.get("where") else {}
            return {"type": kind, "event": text["event"], **where}
        if kind == "segment_entered":
            return {"type": kind, "segment": text["segment"]}
        if kind == "stage_entered":
            return {"type": kind, "stage": text["stage"]}
        if kind == "date":
            attr = data.get("date_attr") or "birth_date"
            return {
                "type": kind,
                "attr": f"traits.{text['trait']}" if attr == "trait" else attr,
                "offset_days": data.get("offset_days") or 0,
                "time": data.get("time") or "09:00",
                "annual": bool(data.get("annual")),
            }
        if kind == "message":
            campaign = {"campaign": text["campaign"]} if text["campaign"] else {}
            return {"type": kind, "message": data.get("message") or "opened", **campaign}
        return {}

    def clean(self):
        data = super().clean()
        if not self.errors:
            errors_add(self, trigger_errors(self.trigger(), complete=False), TRIGGER_FIELDS)
        return data


class FlowCreateForm(TriggerForm):
    """A new flow: its name, slug, description and what starts it."""

    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.SlugField(
        label=_("Slug"),
        max_length=80,
        help_text=_("Lowercase letters, digits, “-” or “_”; the flow's address and API name."),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    field_order = ("name", "slug", "description")

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(str(ERROR_SLUG_RESERVED).format(slug=slug))
        return slug

    def definition(self) -> dict:
        """Return the new flow's definition: its trigger and no step yet."""
        return {"trigger": self.trigger(), "reentry": {"policy": "once"}, "steps": []}


class SettingsForm(TriggerForm):
    """The flow's settings around its steps: trigger, entry rule, re-entry, exits and goal."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    entry_rule_on = forms.BooleanField(
        label=_("Only profiles that match a rule may enter"), required=False
    )
    rule = forms.CharField(
        label=_("Entry rule (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    reentry_policy = forms.ChoiceField(label=_("Re-entry"), choices=list(POLICY_LABELS.items()))
    reentry_days = forms.IntegerField(
        label=_("Days before a profile may enter again"), required=False, min_value=1
    )
    exit_events = forms.CharField(
        label=_("Leave the flow when one of these events happens"),
        required=False,
        help_text=_("Event names, separated by commas."),
    )
    exit_segments = forms.CharField(
        label=_("Leave the flow on leaving one of these segments"),
        required=False,
        help_text=_("Segment slugs, separated by commas."),
    )
    exit_consent = forms.CharField(
        label=_("Leave the flow when consent is withdrawn for"),
        required=False,
        help_text=_("Channels (email, sms) or purposes (marketing …), separated by commas."),
    )
    goal_event = forms.CharField(
        label=_("Goal: the event that counts as converted"), required=False, max_length=200
    )
    goal_days = forms.IntegerField(
        label=_("Within days of entering"), required=False, min_value=1, max_value=365, initial=7
    )
    field_order = ("name", "description", "trigger_type")

    @classmethod
    def for_flow(cls, flow, data=None) -> "SettingsForm":
        """Return the form bound to ``data``, or showing the flow's working copy."""
        if data is not None:
            return cls(data)
        definition = flow.definition or {}
        reentry = definition.get("reentry") or {}
        goal = definition.get("goal") or {}
        exits = definition.get("exit") or []

        def exit_values(kind):
            return ", ".join(
                str(rule[kind]) for rule in exits if isinstance(rule, dict) and kind in rule
            )

        rule = definition.get("entry_rule")
        initial = {
            **cls.trigger_initial(definition.get("trigger")),
            "name": flow.name,
            "description": flow.description,
            "entry_rule_on": bool(rule),
            "rule": json.dumps(rule, ensure_ascii=False) if rule else "",
            "reentry_policy": reentry.get("policy", "once"),
            "reentry_days": reentry.get("days"),
            "exit_events": exit_values("event"),
            "exit_segments": exit_values("segment_left"),
            "exit_consent": exit_values("consent_withdrawn"),
            "goal_event": goal.get("event", ""),
            "goal_days": goal.get("within_days", 7),
        }
        return cls(initial=initial)

    def clean_rule(self):
        text = self.cleaned_data["rule"].strip()
        if not text or not self.data.get("entry_rule_on"):
            return {}
        try:
            return json_loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(str(ERROR_RULE_JSON).format(error=error)) from None

    def apply(self, definition: Mapping) -> dict:
        """Return a copy of ``definition`` with these settings (its steps untouched)."""
        data = self.cleaned_data
        result = copy.deepcopy(dict(definition))
        result["trigger"] = self.trigger()
        result.pop("entry_rule", None)
        if data.get("entry_rule_on") and data.get("rule"):
            result["entry_rule"] = data["rule"]
        reentry = {"policy": data["reentry_policy"]}
        if data["reentry_policy"] == "after_days":
            reentry["days"] = data.get("reentry_days")
        result["reentry"] = reentry
        result["exit"] = [
            {kind: value}
            for kind, field in (
                ("event", "exit_events"),
                ("segment_left", "exit_segments"),
                ("consent_withdrawn", "exit_consent"),
            )
            for value in _words(data.get(field) or "")
        ]
        result.pop("goal", None)
        if (data.get("goal_event") or "").strip():
            result["goal"] = {
                "event": data["goal_event"].strip(),
                "within_days": data.get("goal_days") or 7,
            }
        return result
