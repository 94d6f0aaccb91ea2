"""Say a flow's trigger, rules and steps in words, for the list and the editor's cards."""

from collections.abc import Mapping
from typing import Any

from django.utils.dates import WEEKDAYS_ABBR
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from campaigns.channels import channel_choices
from flows.tree import outcomes_of
from segments.sentence import rule_sentence

KIND_LABELS = {
    "send": gettext_lazy("Send"),
    "wait": gettext_lazy("Wait"),
    "branch": gettext_lazy("Branch"),
    "split": gettext_lazy("Random split"),
    "update_profile": gettext_lazy("Update profile"),
    "webhook": gettext_lazy("Webhook"),
    "exit": gettext_lazy("Exit"),
}
KIND_HELP = {
    "send": gettext_lazy("An email or SMS message, sent through the campaigns' delivery."),
    "wait": gettext_lazy("A pause: for a while, until a weekday and time, or until an event."),
    "branch": gettext_lazy("Two paths: profiles that match a rule, and the others."),
    "split": gettext_lazy("Paths taken at random by percentage, one of them maybe a control."),
    "update_profile": gettext_lazy("Add or remove tags, set traits."),
    "webhook": gettext_lazy("A signed HTTP POST to another system."),
    "exit": gettext_lazy("The profile leaves the flow here."),
}
TRIGGER_LABELS = {
    "event": gettext_lazy("An event happens"),
    "segment_entered": gettext_lazy("A profile enters a segment"),
    "stage_entered": gettext_lazy("A profile reaches a journey stage"),
    "date": gettext_lazy("A date comes round"),
    "message": gettext_lazy("A message is opened or clicked"),
}
POLICY_LABELS = {
    "once": gettext_lazy("Once: a profile enters this flow at most once"),
    "after_days": gettext_lazy("Again after some days"),
    "always": gettext_lazy("Every time the trigger happens (one entry at a time)"),
}
DATE_LABELS = {"birth_date": gettext_lazy("birthday"), "signup_at": gettext_lazy("signup date")}
SUBJECT_CHARS = 40


def duration_words(raw: Any) -> str:
    """Return ``{"days": 1, "hours": 2}`` as "1 day 2 hours"."""
    if not isinstance(raw, dict):
        return "?"
    units = (
        ("days", lambda n: ngettext("%(n)d day", "%(n)d days", n)),
        ("hours", lambda n: ngettext("%(n)d hour", "%(n)d hours", n)),
        ("minutes", lambda n: ngettext("%(n)d minute", "%(n)d minutes", n)),
    )
    parts = [
        plural(raw[name]) % {"n": raw[name]}
        for name, plural in units
        if isinstance(raw.get(name), int) and raw[name]
    ]
    return " ".join(parts) or "?"


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _step_message(node: Mapping, w) -> str | None:
    """Say a branch rule's ``{"message": "opened" | "clicked", "step": key}`` (flows only)."""
    if "message" not in node or "step" not in node:
        return None
    if node["message"] == "clicked":
        return w.fill(_("clicked the message of step %(step)s"), step=str(node["step"]))
    return w.fill(_("opened the message of step %(step)s"), step=str(node["step"]))


def rule_words(node: Any) -> str:
    """Return a segment rule (or a branch rule) as a sentence: "城市 等于 上海 且 带有标签 vip"."""
    return rule_sentence(node, local=_step_message)


def trigger_words(trigger: Any) -> str:
    """Return what starts the flow in words."""
    if not isinstance(trigger, Mapping) or not trigger.get("type"):
        return _("No trigger yet")
    kind = trigger["type"]
    if kind == "event":
        text = _("When %(event)s happens") % {"event": trigger.get("event") or "?"}
        where = trigger.get("where") or {}
        if where:
            pairs = ", ".join(f"{name} = {_value(value)}" for name, value in where.items())
            text += " " + _("with %(properties)s") % {"properties": pairs}
        return text
    if kind == "segment_entered":
        return _("On entering segment %(segment)s") % {"segment": trigger.get("segment")}
    if kind == "stage_entered":
        return _("On reaching journey stage %(stage)s") % {"stage": trigger.get("stage")}
    if kind == "date":
        return _date_words(trigger)
    if kind == "message":
        return _message_trigger_words(trigger)
    return str(kind)


def _message_trigger_words(trigger: Mapping) -> str:
    clicked = trigger.get("message") == "clicked"
    if trigger.get("campaign"):
        text = (
            _("When a message of campaign %(campaign)s is clicked")
            if clicked
            else _("When a message of campaign %(campaign)s is opened")
        )
        return text % {"campaign": trigger["campaign"]}
    return _("When any message is clicked") if clicked else _("When any message is opened")


def _date_words(trigger: Mapping) -> str:
    attr = str(trigger.get("attr") or "?")
    name = DATE_LABELS.get(attr, attr.removeprefix("traits."))
    offset = trigger.get("offset_days") or 0
    if offset < 0:
        when = ngettext("%(n)d day before", "%(n)d days before", -offset) % {"n": -offset}
    elif offset > 0:
        when = ngettext("%(n)d day after", "%(n)d days after", offset) % {"n": offset}
    else:
        when = _("on the day")
    every = _("every year") if trigger.get("annual", True) else _("once")
    return _("On the %(date)s (%(when)s), %(every)s at %(time)s") % {
        "date": name,
        "when": when,
        "every": every,
        "time": trigger.get("time", "09:00"),
    }


def _weekdays_words(weekdays: Any) -> str:
    if not isinstance(weekdays, list) or sorted(weekdays) == list(range(7)):
        return _("any day")
    return ", ".join(str(WEEKDAYS_ABBR[day]) for day in sorted(weekdays) if day in WEEKDAYS_ABBR)


def _wait_words(step: Mapping) -> str:
    if step.get("until_event") is not None:
        event = step["until_event"] if isinstance(step["until_event"], dict) else {}
        return _("Wait until %(event)s, at most %(duration)s") % {
            "event": event.get("event") or "?",
            "duration": duration_words(step.get("timeout")),
        }
    if step.get("until") is not None:
        until = step["until"] if isinstance(step["until"], dict) else {}
        return _("Wait until %(days)s at %(time)s") % {
            "days": _weekdays_words(until.get("weekdays", list(range(7)))),
            "time": until.get("time") or "?",
        }
    return _("Wait %(duration)s") % {"duration": duration_words(step.get("duration"))}


def _send_words(step: Mapping) -> str:
    variants = step.get("variants") if isinstance(step.get("variants"), list) else []
    first = variants[0] if variants and isinstance(variants[0], dict) else {}
    channel = step.get("channel")
    if channel == "sms":
        text = Truncator(str(first.get("body_text") or "")).chars(SUBJECT_CHARS)
        words = _("Send SMS “%(text)s”") % {"text": text}
    elif channel != "email":
        label = dict(channel_choices()).get(channel, channel)
        words = _("Send through %(channel)s") % {"channel": label}
    else:
        text = Truncator(str(first.get("subject") or "")).chars(SUBJECT_CHARS)
        words = _("Send email “%(subject)s”") % {"subject": text}
    if len(variants) > 1:
        words += " " + _("(%(n)d variants)") % {"n": len(variants)}
    return words


def _split_words(step: Mapping) -> str:
    percents = step.get("percents") if isinstance(step.get("percents"), dict) else {}
    parts = []
    for name, percent in percents.items():
        control = " " + _("(control)") if name == step.get("control") else ""
        parts.append(f"{percent}%{control}")
    return _("Split %(parts)s") % {"parts": " / ".join(parts)}


def _update_words(step: Mapping) -> str:
    parts = []
    for tag in step.get("add_tags") or []:
        parts.append(_("Add tag %(tag)s") % {"tag": tag})
    for tag in step.get("remove_tags") or []:
        parts.append(_("Remove tag %(tag)s") % {"tag": tag})
    traits = step.get("set_traits") if isinstance(step.get("set_traits"), dict) else {}
    for name, value in traits.items():
        parts.append(_("Set %(name)s = %(value)s") % {"name": name, "value": _value(value)})
    return "; ".join(parts) or _("Change nothing yet")


def step_words(step: Mapping) -> str:
    """Return one step in words: "Wait 2 hours", "Send email “Hello”", "Exit"…"""
    kind = step.get("kind")
    if kind == "wait":
        return _wait_words(step)
    if kind == "send":
        return _send_words(step)
    if kind == "branch":
        return _("Branch: %(rule)s") % {"rule": rule_words(step.get("rule"))}
    if kind == "split":
        return _split_words(step)
    if kind == "update_profile":
        return _update_words(step)
    if kind == "webhook":
        if step.get("endpoint"):
            return _("Webhook to the endpoint %(endpoint)s") % {"endpoint": step["endpoint"]}
        return _("Webhook POST %(url)s") % {"url": step.get("url") or "?"}
    if kind == "exit":
        return _("Exit")
    return str(kind)


def path_label(step: Mapping, outcome: str) -> str:
    """Return the heading of one path of a branching step."""
    kind = step.get("kind")
    if kind == "branch":
        return _("Yes: matches the rule") if outcome == "yes" else _("No: does not match")
    if kind == "wait":
        event = step.get("until_event") if isinstance(step.get("until_event"), dict) else {}
        if outcome == "event":
            return _("%(event)s happened") % {"event": event.get("event") or "?"}
        return _("Time is up: no %(event)s") % {"event": event.get("event") or "?"}
    if kind == "split":
        percent = (step.get("percents") or {}).get(outcome, "?")
        label = f"{outcome} · {percent}%"
        return f"{label} · {_('control')}" if outcome == step.get("control") else label
    return outcome


def reentry_words(reentry: Any) -> str:
    """Return the re-entry policy in words."""
    reentry = reentry if isinstance(reentry, Mapping) else {}
    policy = reentry.get("policy", "once")
    if policy == "after_days":
        return _("Again %(days)s days after the last entry") % {"days": reentry.get("days")}
    return str(POLICY_LABELS.get(policy, policy))


def exit_words(rule: Any) -> str:
    """Return one exit rule in words."""
    if not isinstance(rule, Mapping) or len(rule) != 1:
        return "?"
    ((kind, value),) = rule.items()
    if kind == "event":
        return _("When %(event)s happens") % {"event": value}
    if kind == "segment_left":
        return _("On leaving segment %(segment)s") % {"segment": value}
    return _("When consent for %(consent)s is withdrawn") % {"consent": _consent_label(value)}


def _consent_label(value: Any) -> str:
    """Return a consent channel or purpose as its label ("短信", "营销"); else as it is."""
    from profiles.models import ConsentChannel
    from profiles.services.consent import consent_purposes

    labels = {**dict(ConsentChannel.choices), **dict(consent_purposes())}
    return str(labels.get(value, value))


def goal_words(goal: Any) -> str:
    """Return the conversion goal in words."""
    if not isinstance(goal, Mapping) or not goal.get("event"):
        return _("No goal")
    return _("%(event)s within %(days)s days of entering") % {
        "event": goal["event"],
        "days": goal.get("within_days", "?"),
    }


def branching(step: Mapping) -> bool:
    return bool(outcomes_of(step))
