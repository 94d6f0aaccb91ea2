"""Edit a flow's definition as the tree it is: find, add, change and remove steps.

Pure functions on the definition's JSON: each returns a changed copy and never mutates its input.
A step's key is made once (its kind and a counter) and never changes, so a live flow's counts
follow the step through its versions; a key that went live is never given to another step.
"""

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from flows.definition import BRANCHING, ERROR_EMPTY_PATH

KEY_PREFIX = {
    "send": "send",
    "wait": "wait",
    "branch": "branch",
    "split": "split",
    "update_profile": "update",
    "webhook": "webhook",
    "exit": "exit",
}

ERROR_NO_STEP = _("There is no step “{key}” in this flow.")
ERROR_AFTER_BRANCHING = _(
    "A step that branches ends its list: add the step inside one of its paths."
)
ERROR_PATHS_LEFT = _(
    "More than one path of this step still has steps: remove them first, "
    "then change the step so that it no longer branches."
)
ERROR_PATH_DROPPED = _("The path “{path}” still has steps: remove them before removing the path.")
ERROR_PATH_EMPTY = _("This path has no step yet: add one (an exit step ends it).")


class TreeError(ValueError):
    """An edit that the tree cannot take (the message says what to do instead)."""


def outcomes_of(step: Mapping) -> list[str]:
    """Return the names of a step's paths, in order (empty for a step that does not branch)."""
    kind = step.get("kind")
    if kind == "wait":
        return list(BRANCHING["wait"]) if step.get("until_event") is not None else []
    if kind == "split":
        percents = step.get("percents")
        return list(percents) if isinstance(percents, dict) else []
    return list(BRANCHING.get(kind, ()))


def _children(step: Mapping) -> Iterator[tuple[str, list]]:
    paths = step.get("paths")
    if isinstance(paths, dict):
        for outcome, steps in paths.items():
            if isinstance(steps, list):
                yield outcome, steps


def steps_walk(steps, place: str = "steps") -> Iterator[tuple[dict, str]]:
    """Yield every step of ``steps`` and of its paths, depth first, with its place."""
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here = f"{place}[{index}]"
        yield step, here
        for outcome, children in _children(step):
            yield from steps_walk(children, f"{here}.paths.{outcome}")


def keys_all(definitions: Iterable[Mapping]) -> set[str]:
    """Return every step key used in any of ``definitions``."""
    return {
        str(step.get("key"))
        for definition in definitions
        for step, _place in steps_walk((definition or {}).get("steps"))
    }


def key_new(kind: str, taken: set[str]) -> str:
    """Return a new key for a step of ``kind``: its short name and one more than any before."""
    prefix = KEY_PREFIX[kind]
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)$")
    numbers = [int(match[1]) for key in taken if (match := pattern.match(key))]
    return f"{prefix}-{max(numbers, default=0) + 1}"


def _locate(steps, key: str) -> tuple[list, int] | None:
    """Return the list holding step ``key`` and its index there."""
    if not isinstance(steps, list):
        return None
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        if step.get("key") == key:
            return steps, index
        for _outcome, children in _children(step):
            found = _locate(children, key)
            if found:
                return found
    return None


def step_get(definition: Mapping, key: str) -> dict:
    """Return step ``key`` of the definition; raise TreeError when there is none."""
    found = _locate(definition.get("steps"), key)
    if found is None:
        raise TreeError(str(ERROR_NO_STEP).format(key=key))
    steps, index = found
    return steps[index]


@dataclass(frozen=True)
class Position:
    """Where a new step goes: after step ``after``, first in a path (``parent``, ``path``), or
    first in the flow (all None)."""

    after: str | None = None
    parent: str | None = None
    path: str | None = None


def _target_list(definition: dict, position: Position) -> tuple[list, int]:
    """Return the list a new step goes into and the index it takes there."""
    if position.after:
        found = _locate(definition["steps"], position.after)
        if found is None:
            raise TreeError(str(ERROR_NO_STEP).format(key=position.after))
        steps, index = found
        if outcomes_of(steps[index]):
            raise TreeError(str(ERROR_AFTER_BRANCHING))
        return steps, index + 1
    if position.parent:
        parent = step_get(definition, position.parent)
        paths = parent.get("paths")
        if not isinstance(paths, dict) or position.path not in paths:
            raise TreeError(str(ERROR_NO_STEP).format(key=f"{position.parent}.{position.path}"))
        return paths[position.path], 0
    return definition["steps"], 0


def step_insert(definition: Mapping, step: Mapping, position: Position) -> dict:
    """Return a copy of the definition with ``step`` added at ``position``.

    A step that branches ends its list: the steps that followed the position go into its
    first path, and its other paths start empty.
    """
    result = copy.deepcopy(dict(definition))
    result.setdefault("steps", [])
    steps, index = _target_list(result, position)
    new = {k: copy.deepcopy(v) for k, v in step.items() if k != "paths"}
    outcomes = outcomes_of(new)
    if outcomes:
        tail = steps[index:]
        del steps[index:]
        new["paths"] = {outcome: [] for outcome in outcomes}
        new["paths"][outcomes[0]] = tail
    steps.insert(index, new)
    return result


def _paths_moved(old: dict, old_outcomes: list[str], new_outcomes: list[str]) -> dict:
    """Return the new step's paths: the old ones taken over by position."""
    paths = old.get("paths") if isinstance(old.get("paths"), dict) else {}
    moved = {}
    for position, outcome in enumerate(new_outcomes):
        name = old_outcomes[position] if position < len(old_outcomes) else None
        moved[outcome] = paths.get(name, []) if name else []
    for name in old_outcomes[len(new_outcomes) :]:
        if paths.get(name):
            raise TreeError(str(ERROR_PATH_DROPPED).format(path=name))
    return moved


def step_change(definition: Mapping, key: str, config: Mapping) -> dict:
    """Return a copy of the definition with step ``key``'s settings replaced by ``config``.

    The key and kind stay. When the step starts branching, the steps after it go into its first
    path; when it stops branching, the steps of its one non-empty path follow it; paths are
    otherwise taken over by position (a removed path must be empty).
    """
    result = copy.deepcopy(dict(definition))
    found = _locate(result.get("steps"), key)
    if found is None:
        raise TreeError(str(ERROR_NO_STEP).format(key=key))
    steps, index = found
    old = steps[index]
    new = {name: copy.deepcopy(value) for name, value in config.items() if name != "paths"}
    new["key"], new["kind"] = old["key"], old["kind"]
    old_outcomes, new_outcomes = outcomes_of(old), outcomes_of(new)
    if new_outcomes and not old_outcomes:
        new["paths"] = {outcome: [] for outcome in new_outcomes}
        new["paths"][new_outcomes[0]] = steps[index + 1 :]
        del steps[index + 1 :]
    elif old_outcomes and not new_outcomes:
        filled = [steps_ for _o, steps_ in _children(old) if steps_]
        if len(filled) > 1:
            raise TreeError(str(ERROR_PATHS_LEFT))
        steps[index + 1 : index + 1] = filled[0] if filled else []
    elif new_outcomes:
        new["paths"] = _paths_moved(old, old_outcomes, new_outcomes)
    steps[index] = new
    return result


def step_remove(definition: Mapping, key: str) -> dict:
    """Return a copy of the definition without step ``key`` (a branching step's paths go too)."""
    result = copy.deepcopy(dict(definition))
    found = _locate(result.get("steps"), key)
    if found is None:
        raise TreeError(str(ERROR_NO_STEP).format(key=key))
    steps, index = found
    del steps[index]
    return result


_INDEX = re.compile(r"\[(\d+)\]")
_PATH = re.compile(r"\.paths\.([^.\[]+)")


def place_target(definition: Mapping, place: str) -> tuple[str | None, str | None]:
    """Return the step an error's place concerns, and the path when it names one.

    ``steps[0].paths.yes[1].duration`` → (key of that step, None);
    ``steps[0].paths.no`` → (key of steps[0], "no"); a place outside the steps → (None, None).
    """
    if not place.startswith("steps"):
        return None, None
    rest, steps = place[len("steps") :], definition.get("steps")
    key = outcome = None
    while (match := _INDEX.match(rest)) and isinstance(steps, list):
        index = int(match[1])
        if index >= len(steps) or not isinstance(steps[index], dict):
            break
        step, rest, outcome = steps[index], rest[match.end() :], None
        key = step.get("key")
        path = _PATH.match(rest)
        if not path:
            break
        outcome, rest = path[1], rest[path.end() :]
        paths = step.get("paths")
        steps = paths.get(outcome) if isinstance(paths, dict) else None
    return key, outcome


@dataclass
class PlacedErrors:
    """FlowError messages sorted by what they concern, for the editor to show them there."""

    steps: dict[str, list[str]] = field(default_factory=dict)
    paths: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    settings: dict[str, list[str]] = field(default_factory=dict)
    flow: list[str] = field(default_factory=list)
    # Every error once, in order, for the summary: {"key", "outcome", "setting", "message"}.
    summary: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps or self.paths or self.settings or self.flow)


SETTINGS = ("trigger", "entry_rule", "reentry", "exit", "goal")


def errors_place(definition: Mapping, errors: Iterable[tuple[str, str]]) -> PlacedErrors:
    """Sort (place, message) errors by the step, path or setting they concern."""
    placed = PlacedErrors()
    for place, message in errors:
        key, outcome = place_target(definition, place)
        if outcome and str(message) == str(ERROR_EMPTY_PATH).format(path=outcome):
            message = ERROR_PATH_EMPTY  # shown under the path's own heading, not its raw name
        setting = re.split(r"[.\[]", place, maxsplit=1)[0]
        placed.summary.append(
            {
                "key": key,
                "outcome": outcome,
                "setting": setting if not key and setting in SETTINGS else None,
                "message": str(message),
            }
        )
        if key and outcome:
            placed.paths.setdefault((key, outcome), []).append(str(message))
        elif key:
            placed.steps.setdefault(key, []).append(str(message))
        elif setting in SETTINGS:
            placed.settings.setdefault(setting, []).append(str(message))
        else:
            placed.flow.append(str(message))
    return placed
