"""What the editor draws: the step tree as nested cards with their words, counts, errors, and
the one form open in it (a step being edited, or a step being added at a position)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from flows.describe import KIND_HELP, KIND_LABELS, path_label, step_words
from flows.step_forms import STEP_FORMS, StepForm
from flows.tree import PlacedErrors, Position, TreeError, outcomes_of, step_get

SETTING_LABELS = {
    "trigger": _("Trigger"),
    "entry_rule": _("Entry rule"),
    "reentry": _("Re-entry"),
    "exit": _("Exit rules"),
    "goal": _("Goal"),
}


@dataclass
class Open:
    """The form open in the tree: editing step ``key``, or adding at ``position``."""

    form: StepForm | None = None
    key: str | None = None  # editing this step
    position: Position | None = None  # adding here
    kind: str | None = None  # the kind being added (None: still choosing)

    def adding_at(self, *, after=None, parent=None, path=None) -> bool:
        return self.position == Position(after=after, parent=parent, path=path)


def kinds() -> list[dict]:
    """Return the kinds of step a user may add, with their labels and help."""
    return [
        {"kind": kind, "label": label, "help": KIND_HELP[kind]}
        for kind, label in KIND_LABELS.items()
    ]


def _path(step: Mapping, outcome: str, context: "_Context") -> dict:
    paths = step.get("paths") if isinstance(step.get("paths"), dict) else {}
    key = step["key"]
    counts = context.counts.get(key, {}).get("outcomes", {})
    return {
        "outcome": outcome,
        "label": path_label(step, outcome),
        "taken": counts.get(outcome, 0),
        "errors": context.errors.paths.get((key, outcome), []),
        "adding": context.open.adding_at(parent=key, path=outcome),
        "nodes": _nodes(paths.get(outcome) or [], context),
    }


@dataclass
class _Context:
    counts: Mapping[str, dict]
    errors: PlacedErrors
    open: Open


def _node(step: Mapping, context: _Context) -> dict:
    key = str(step.get("key"))
    outcomes = outcomes_of(step)
    return {
        "key": key,
        "kind": step.get("kind"),
        "kind_label": KIND_LABELS.get(step.get("kind"), step.get("kind")),
        "words": step_words(step),
        "counts": context.counts.get(key),
        "errors": context.errors.steps.get(key, []),
        "editing": context.open.key == key,
        "adding_after": context.open.adding_at(after=key),
        "branching": bool(outcomes),
        "paths": [_path(step, outcome, context) for outcome in outcomes],
    }


def _nodes(steps: Any, context: _Context) -> list[dict]:
    if not isinstance(steps, list):
        return []
    return [_node(step, context) for step in steps if isinstance(step, dict) and step.get("key")]


def tree_build(
    definition: Mapping,
    *,
    counts: Mapping[str, dict] | None = None,
    errors: PlacedErrors | None = None,
    open_form: Open | None = None,
) -> dict:
    """Return the tree for the template: the first list's nodes, each with its paths' nodes."""
    context = _Context(counts or {}, errors or PlacedErrors(), open_form or Open())
    return {
        "nodes": _nodes(definition.get("steps"), context),
        "adding": context.open.adding_at(),
    }


def step_form(kind: str, *, step: Mapping | None = None, data=None) -> StepForm:
    """Return the form of a step of ``kind``: bound to ``data``, or showing ``step``."""
    return STEP_FORMS[kind](data=data, step=step)


def errors_summary(definition: Mapping, errors: PlacedErrors) -> list[dict]:
    """Return the errors for the summary list: where (in words), the card to go to, message."""
    rows = []
    for entry in errors.summary:
        key, where = entry["key"], SETTING_LABELS.get(entry["setting"] or "", _("The flow"))
        if key:
            try:
                step = step_get(definition, key)
            except TreeError:
                step = {}
            where = f"{KIND_LABELS.get(step.get('kind'), '')} {key}".strip()
            if entry["outcome"]:
                where = f"{where} · {path_label(step, entry['outcome'])}"
        rows.append({"where": where, "key": key, "message": entry["message"]})
    return rows
