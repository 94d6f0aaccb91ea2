"""One form per kind of step: read a step's settings into fields and write them back.

Each form's ``config()`` returns the step's settings without its key and paths (the tree keeps
those); ``PLACES`` maps a definition error's place inside the step to the field to show it on.
"""

import json
import re
from collections.abc import Mapping

from django import forms
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from campaigns.channels import channels_offered, offered_choices
from core.jsonlimits import json_loads
from flows.definition import (
    ERROR_WEBHOOK_BOTH,
    ERROR_WEBHOOK_TARGET,
    MAX_WEBHOOK_RETRIES,
    MAX_WEBHOOK_TIMEOUT,
)

ERROR_JSON = _("This is not valid JSON: {error}")
ERROR_RULE_OBJECT = _("Give the rule as a JSON object, e.g. {example}.")
ERROR_TRAIT_LINE = _("Write one trait a line as name = value (line {line}).")
ERROR_SPLIT_NAME = _("Name each path with letters, digits, - or _ (up to 40), each name once.")
ERROR_SPLIT_ROWS = _("A split needs at least two paths.")
RULE_EXAMPLE = '{"attr": "city", "op": "eq", "value": "上海"}'
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SPLIT_ROWS = 4
UNITS = ("days", "hours", "minutes")
UNIT_LABELS = {"days": _("days"), "hours": _("hours"), "minutes": _("minutes")}


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[,，\s]+", text or "") if word]


def _number(name: str, label, **kwargs) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=0,
        widget=forms.NumberInput(attrs={"class": "short", "aria-label": f"{name}"}),
        **kwargs,
    )


class StepForm(forms.Form):
    """The base of the step forms: settings that are not in the form stay as they were."""

    PLACES: Mapping[str, str] = {}
    WHEN: Mapping[str, str] = {}  # field → "toggle:value,value": shown for those choices only

    def __init__(self, *args, step: Mapping | None = None, **kwargs):
        self.step = dict(step or {})
        if not args and kwargs.get("data") is None:
            kwargs.setdefault("initial", self.initial_from(self.step))
        kwargs.setdefault("prefix", "step")
        super().__init__(*args, **kwargs)

    def initial_from(self, step: Mapping) -> dict:
        return {}

    def shown(self) -> list:
        """Return each bound field with the choice it belongs to (for the template)."""
        return [(self[name], self.WHEN.get(name, "")) for name in self.fields]

    def config(self) -> dict:
        return {}

    def field_of(self, place: str) -> str | None:
        """Return the field that shows an error at ``place`` (relative to the step)."""
        for prefix, name in self.PLACES.items():
            if place == prefix or place.startswith(prefix + ".") or place.startswith(prefix + "["):
                return name
        return None


class SendForm(StepForm):
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=offered_choices,
        widget=forms.Select(attrs={"data-toggle": "channel"}),
    )
    name = forms.CharField(label=_("Message name"), required=False, max_length=100)
    subject = forms.CharField(label=_("Subject"), required=False, max_length=200)
    body_text = forms.CharField(
        label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    body_html = forms.CharField(
        label=_("HTML (email only)"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    content_fields = forms.JSONField(
        label=_("Message parts"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            'The parts this channel sends, as JSON, e.g. {"template_id": "…", "data": '
            '{"keyword1": "{{ name }}"}}; values may use the same variables as an email.'
        ),
    )
    PLACES = {
        "channel": "channel",
        "variants[0].subject": "subject",
        "variants[0].body_text": "body_text",
        "variants[0].body_html": "body_html",
        "variants[0].fields": "content_fields",
    }
    WHEN = {
        "subject": "channel:email",
        "body_html": "channel:email",
        "body_text": "channel:email,sms",
    }

    def shown(self) -> list:
        parted = ",".join(key for key, spec in channels_offered().items() if spec.content)
        when = {**self.WHEN, "content_fields": f"channel:{parted}"}
        return [(self[name], when.get(name, "")) for name in self.fields]

    def initial_from(self, step):
        variants = step.get("variants") or [{}]
        first = variants[0] if isinstance(variants[0], dict) else {}
        return {
            "channel": step.get("channel", "email"),
            "name": step.get("name", ""),
            **{name: first.get(name, "") for name in ("subject", "body_text", "body_html")},
            "content_fields": first.get("fields") or None,
        }

    def config(self):
        data = self.cleaned_data
        variants = [dict(v) for v in self.step.get("variants") or [] if isinstance(v, dict)]
        first = variants[0] if variants else {"key": "A", "weight": 100}
        parted = bool(channels_offered()[data["channel"]].content)
        for name in ("subject", "body_text", "body_html"):
            keep = data["channel"] == "email" or (name == "body_text" and not parted)
            first[name] = data[name] if keep else ""
        if parted:
            first["fields"] = data["content_fields"] or {}
        else:
            first.pop("fields", None)
        config = {k: v for k, v in self.step.items() if k not in ("key", "kind", "paths")}
        config.update(channel=data["channel"], variants=[first, *variants[1:]])
        if data["name"]:
            config["name"] = data["name"]
        else:
            config.pop("name", None)
        return config


class WaitForm(StepForm):
    MODES = (
        ("duration", _("For a while")),
        ("until", _("Until a weekday and time")),
        ("until_event", _("Until an event happens, at most a while")),
    )
    mode = forms.ChoiceField(
        label=_("Wait"), choices=MODES, widget=forms.Select(attrs={"data-toggle": "wait-mode"})
    )
    days = _number("days", UNIT_LABELS["days"])
    hours = _number("hours", UNIT_LABELS["hours"])
    minutes = _number("minutes", UNIT_LABELS["minutes"])
    weekdays = forms.TypedMultipleChoiceField(
        label=_("On"),
        required=False,
        coerce=int,
        choices=list(WEEKDAYS.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    time = forms.CharField(
        label=_("At"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    event = forms.CharField(label=_("Event"), required=False, max_length=200)
    PLACES = {
        "duration": "days",
        "timeout": "days",
        "until.weekdays": "weekdays",
        "until.time": "time",
        "until": "time",
        "until_event": "event",
    }
    WHEN = {
        "days": "wait-mode:duration,until_event",
        "hours": "wait-mode:duration,until_event",
        "minutes": "wait-mode:duration,until_event",
        "weekdays": "wait-mode:until",
        "time": "wait-mode:until",
        "event": "wait-mode:until_event",
    }

    def initial_from(self, step):
        if step.get("until_event") is not None:
            event = step["until_event"] if isinstance(step["until_event"], dict) else {}
            return {
                "mode": "until_event",
                "event": event.get("event", ""),
                **step.get("timeout", {}),
            }
        if step.get("until") is not None:
            until = step["until"]
            return {
                "mode": "until",
                "weekdays": until.get("weekdays", list(range(7))),
                "time": until.get("time", ""),
            }
        return {"mode": "duration", **(step.get("duration") or {})}

    def _duration(self) -> dict:
        data = self.cleaned_data
        return {unit: data[unit] for unit in UNITS if data.get(unit)}

    def config(self):
        data, mode = self.cleaned_data, self.cleaned_data["mode"]
        if mode == "duration":
            return {"duration": self._duration()}
        if mode == "until":
            return {"until": {"weekdays": data["weekdays"] or list(range(7)), "time": data["time"]}}
        old = self.step.get("until_event") if isinstance(self.step.get("until_event"), dict) else {}
        event = {**old, "event": data["event"].strip()}
        return {"until_event": event, "timeout": self._duration()}


class BranchForm(StepForm):
    rule = forms.CharField(
        label=_("Rule (JSON)"),
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "placeholder": RULE_EXAMPLE}
        ),
        help_text=_(
            'A segment rule; {"message": "opened", "step": "<send step>"} asks about '
            "a message sent earlier in this flow."
        ),
    )
    PLACES = {"rule": "rule"}

    def initial_from(self, step):
        rule = step.get("rule")
        return {"rule": json.dumps(rule, ensure_ascii=False) if rule else ""}

    def clean_rule(self):
        try:
            rule = json_loads(self.cleaned_data["rule"])
        except json.JSONDecodeError as error:
            raise forms.ValidationError(str(ERROR_JSON).format(error=error)) from None
        if not isinstance(rule, dict):
            raise forms.ValidationError(str(ERROR_RULE_OBJECT).format(example=RULE_EXAMPLE))
        return rule

    def config(self):
        return {"rule": self.cleaned_data["rule"]}


class SplitForm(StepForm):
    control = forms.ChoiceField(label=_("Control path (receives nothing)"), required=False)
    PLACES = {"percents": "__all__", "control": "control"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rows = []
        for row in range(SPLIT_ROWS):
            self.fields[f"name_{row}"] = forms.CharField(
                label=_("Path %(n)d") % {"n": row + 1}, required=False, max_length=40
            )
            self.fields[f"percent_{row}"] = forms.IntegerField(
                label=_("Percent"), required=False, min_value=0, max_value=100
            )
            rows.append((str(row), _("Path %(n)d") % {"n": row + 1}))
        self.fields["control"].choices = [("", _("No control path")), *rows]

    def initial_from(self, step):
        percents = step.get("percents") if isinstance(step.get("percents"), dict) else {}
        percents = percents or {"A": 50, "B": 50}
        initial = {"control": ""}
        for row, (name, percent) in enumerate(list(percents.items())[:SPLIT_ROWS]):
            initial[f"name_{row}"], initial[f"percent_{row}"] = name, percent
            if name == step.get("control"):
                initial["control"] = str(row)
        return initial

    def rows(self):
        """Return the bound fields of each row, for the template: (name, percent)."""
        return [(self[f"name_{row}"], self[f"percent_{row}"]) for row in range(SPLIT_ROWS)]

    def clean(self):
        data = super().clean()
        names = [(data.get(f"name_{row}") or "").strip() for row in range(SPLIT_ROWS)]
        filled = [name for name in names if name]
        if len(filled) < 2:
            raise forms.ValidationError(ERROR_SPLIT_ROWS)
        if len(set(filled)) != len(filled) or not all(NAME_RE.match(name) for name in filled):
            raise forms.ValidationError(ERROR_SPLIT_NAME)
        data["names"] = names
        return data

    def config(self):
        data = self.cleaned_data
        percents = {
            name: data.get(f"percent_{row}") or 0 for row, name in enumerate(data["names"]) if name
        }
        config = {"percents": percents}
        control = data.get("control")
        if control != "" and control is not None and data["names"][int(control)]:
            config["control"] = data["names"][int(control)]
        return config


def _trait_value(text: str):
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class UpdateForm(StepForm):
    add_tags = forms.CharField(
        label=_("Add tags"), required=False, help_text=_("Tag slugs, separated by commas.")
    )
    remove_tags = forms.CharField(
        label=_("Remove tags"), required=False, help_text=_("Tag slugs, separated by commas.")
    )
    set_traits = forms.CharField(
        label=_("Set traits"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "vip = true"}),
        help_text=_("One a line: name = value (text, a number, true or false)."),
    )
    PLACES = {"add_tags": "add_tags", "remove_tags": "remove_tags", "set_traits": "set_traits"}

    def initial_from(self, step):
        traits = step.get("set_traits") if isinstance(step.get("set_traits"), dict) else {}
        return {
            "add_tags": ", ".join(step.get("add_tags") or []),
            "remove_tags": ", ".join(step.get("remove_tags") or []),
            "set_traits": "\n".join(
                f"{name} = {json.dumps(value) if isinstance(value, bool) else value}"
                for name, value in traits.items()
            ),
        }

    def clean_set_traits(self):
        traits = {}
        for number, line in enumerate(self.cleaned_data["set_traits"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(str(ERROR_TRAIT_LINE).format(line=number))
            traits[name.strip()] = _trait_value(value)
        return traits

    def config(self):
        data = self.cleaned_data
        config = {
            "add_tags": _words(data["add_tags"]),
            "remove_tags": _words(data["remove_tags"]),
            "set_traits": data["set_traits"],
        }
        return {name: value for name, value in config.items() if value}


class WebhookForm(StepForm):
    endpoint = forms.ChoiceField(label=_("Webhook endpoint"), required=False)
    url = forms.CharField(
        label=_("Or an address (URL), signed with the flows' secret"),
        max_length=500,
        required=False,
        help_text=_("Kept for steps made before endpoints; an endpoint also logs each call."),
    )
    timeout_seconds = forms.IntegerField(
        label=_("Timeout (seconds)"), min_value=1, max_value=MAX_WEBHOOK_TIMEOUT, initial=5
    )
    retries = forms.IntegerField(
        label=_("Retries"), min_value=0, max_value=MAX_WEBHOOK_RETRIES, initial=3
    )
    PLACES = {
        "endpoint": "endpoint",
        "url": "url",
        "timeout_seconds": "timeout_seconds",
        "retries": "retries",
    }

    def __init__(self, *args, **kwargs):
        from campaigns.selectors import webhook_endpoint_choices

        super().__init__(*args, **kwargs)
        choices = webhook_endpoint_choices()
        current = self.step.get("endpoint")
        if current and current not in dict(choices):  # disabled since: still shown, and named
            choices.append((current, current))
        self.fields["endpoint"].choices = [("", "—"), *choices]

    def initial_from(self, step):
        return {
            "endpoint": step.get("endpoint", ""),
            "url": step.get("url", ""),
            "timeout_seconds": step.get("timeout_seconds", 5),
            "retries": step.get("retries", 3),
        }

    def clean(self):
        data = super().clean()
        if data.get("endpoint") and data.get("url"):
            raise forms.ValidationError(ERROR_WEBHOOK_BOTH)
        if not data.get("endpoint") and not data.get("url"):
            self.add_error("endpoint", ERROR_WEBHOOK_TARGET)
        return data

    def config(self):
        data = self.cleaned_data
        target = {"endpoint": data["endpoint"]} if data["endpoint"] else {"url": data["url"]}
        return {**target, "timeout_seconds": data["timeout_seconds"], "retries": data["retries"]}


class ExitForm(StepForm):
    """An exit step has nothing to set."""


STEP_FORMS: dict[str, type[StepForm]] = {
    "send": SendForm,
    "wait": WaitForm,
    "branch": BranchForm,
    "split": SplitForm,
    "update_profile": UpdateForm,
    "webhook": WebhookForm,
    "exit": ExitForm,
}
