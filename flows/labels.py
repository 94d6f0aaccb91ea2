"""Flow steps, outcomes and exit reasons in words, read from a version's stored JSON.

The stored definition of a version is read as it is (no parsing, no query): a page that shows
where a profile stands must not fail because a segment the flow names was deleted since.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from flows.describe import KIND_LABELS  # one wording for a step's kind, on every page

SEND_LABELS = {"email": gettext_lazy("Send an email"), "sms": gettext_lazy("Send an SMS")}
OUTCOME_LABELS = {
    "branch": {"yes": gettext_lazy("Yes"), "no": gettext_lazy("No")},
    "wait": {"event": gettext_lazy("The event happened"), "timeout": gettext_lazy("Timed out")},
    "webhook": {"ok": gettext_lazy("Answered"), "failed": gettext_lazy("Gave up")},
}
EXIT_LABELS = {
    "exit_step": gettext_lazy("Reached an exit step"),
    "archived": gettext_lazy("The flow was archived"),
    "unknown_step": gettext_lazy("Its step no longer exists"),
    "segment_left": gettext_lazy("Left the segment"),
}
EXIT_PREFIXED = {
    "event": gettext_lazy("Did “{value}”"),
    "segment_left": gettext_lazy("Left the segment “{value}”"),
    "consent_withdrawn": gettext_lazy("Withdrew consent ({value})"),
}


def steps_walk(steps: Any) -> Iterator[Mapping[str, Any]]:
    """Yield every step object of a stored list of steps, paths included, in reading order."""
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, Mapping):
            continue
        yield step
        paths = step.get("paths")
        for path in paths.values() if isinstance(paths, Mapping) else []:
            yield from steps_walk(path)


def steps_by_key(definition: Any) -> dict[str, Mapping[str, Any]]:
    """Return a stored definition's steps by key."""
    raw = definition if isinstance(definition, Mapping) else {}
    return {step["key"]: step for step in steps_walk(raw.get("steps")) if "key" in step}


def kind_label(step: Mapping[str, Any] | None) -> str:
    """Return what a step does, in words ("Send an email", "Wait" …)."""
    if step is None:
        return ""
    if step.get("kind") == "send" and step.get("channel") in SEND_LABELS:
        return str(SEND_LABELS[step["channel"]])
    kind = step.get("kind")
    return str(KIND_LABELS.get(kind, kind or ""))


def step_label(step: Mapping[str, Any] | None, key: str) -> str:
    """Return a step as people read it: its name (or key) and what it does."""
    if not key:
        return ""
    if step is None:
        return key
    name = step.get("name") or key
    return _("%(name)s · %(kind)s") % {"name": name, "kind": kind_label(step)}


def outcome_label(step: Mapping[str, Any] | None, outcome: str) -> str:
    """Return the path a step took, in words ("Yes", "Timed out", "Path “B”" …)."""
    if not outcome:
        return ""
    kind = step.get("kind") if step else None
    if kind == "split":
        if outcome == step.get("control"):
            return _("Path “%(path)s” (control)") % {"path": outcome}
        return _("Path “%(path)s”") % {"path": outcome}
    return str(OUTCOME_LABELS.get(kind, {}).get(outcome, outcome))


def exit_label(reason: str) -> str:
    """Return why an enrollment stopped, in words ("Did “purchase”" …); "" when it did not."""
    if not reason:
        return ""
    if reason in EXIT_LABELS:
        return str(EXIT_LABELS[reason])
    kind, _sep, value = reason.partition(":")
    if kind in EXIT_PREFIXED and value:
        return str(EXIT_PREFIXED[kind]).format(value=value)
    return reason
