"""Read a flow's definition JSON into a typed tree of steps, refusing what cannot run.

A definition is a trigger, an entry rule, a re-entry policy, exit rules, a conversion goal and
a list of steps. Steps follow one another in their list; a step that branches (``branch``,
``split``, a ``wait`` until an event) is the last of its list and holds one list per outcome
in ``paths``, so the steps form a tree by construction and no flow can loop. Every step has a
``key`` unique in the flow, which stays when the flow is edited, so counts follow the step.

``definition_parse(raw, complete=False)`` checks the shape (what a draft must already respect);
``complete=True`` also checks what going live needs: a trigger, no empty branch, valid content
in every send step, limits on every wait. Errors name the place: ``steps[1].paths.yes[0]``.
"""

import datetime
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from campaigns.channels import channels_offered
from flows.triggers_spec import trigger_errors

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
KINDS = ("send", "wait", "branch", "split", "update_profile", "webhook", "exit")
BRANCHING = {"branch": ("yes", "no"), "wait": ("event", "timeout")}
POLICIES = ("once", "after_days", "always")
MAX_WAIT = datetime.timedelta(days=365)
MAX_STEPS = 100
MAX_WEBHOOK_TIMEOUT = 30
MAX_WEBHOOK_RETRIES = 10

ERROR_NOT_OBJECT = _("Give an object here.")
ERROR_NOT_LIST = _("Give a list of steps here.")
ERROR_KEY = _("Give each step a key of lowercase letters, digits, - or _ (up to 40).")
ERROR_KEY_TAKEN = _("The key “{key}” is used by another step.")
ERROR_KIND = _("Unknown step kind “{kind}”: use one of {kinds}.")
ERROR_AFTER_BRANCH = _(
    "A step that branches must be the last of its list; move “{key}” into a path."
)
ERROR_EMPTY_PATH = _("The path “{path}” leads nowhere: add a step (an exit step ends it).")
ERROR_PATHS = _("This step has the paths {expected}.")
ERROR_TOO_MANY = _("A flow has at most {limit} steps.")
ERROR_NO_STEPS = _("Add at least one step.")
ERROR_WAIT_KIND = _("A wait needs one of duration, until (weekdays and time) or until_event.")
ERROR_WAIT_LIMIT = _("A wait lasts more than zero and at most 365 days.")
ERROR_WAIT_TIME = _("Give the time as HH:MM.")
ERROR_WAIT_WEEKDAYS = _("Give weekdays as numbers 0 (Monday) to 6 (Sunday).")
ERROR_WAIT_EVENT = _("Name the event to wait for.")
ERROR_SPLIT_PERCENTS = _("The paths' percentages must be whole numbers that add up to 100.")
ERROR_SPLIT_CONTROL = _("The control path “{name}” is not one of the split's paths.")
ERROR_SPLIT_PATHS = _("A split needs at least two paths.")
ERROR_CHANNEL = _("Choose the channel: one of {choices}.")
ERROR_VARIANTS = _("A send step needs at least one variant of its message.")
ERROR_UPDATE_EMPTY = _("Say what to change: add_tags, remove_tags or set_traits.")
ERROR_TAGS = _("Give tags as a list of tag slugs.")
ERROR_TRAITS = _("Give traits as an object of names to text, numbers or true/false.")
ERROR_WEBHOOK_URL = _("Give the webhook's address, starting with http:// or https://.")
ERROR_WEBHOOK_TARGET = _("Choose the webhook endpoint to post to (or give an address, url).")
ERROR_WEBHOOK_BOTH = _("Give the webhook an endpoint or an address (url), not both.")
ERROR_WEBHOOK_ENDPOINT = _(
    "There is no active webhook endpoint “{slug}”: choose one on the webhook endpoints page."
)
ERROR_WEBHOOK_TIMEOUT = _("The webhook's timeout is 1 to {limit} seconds.")
ERROR_WEBHOOK_RETRIES = _("The webhook's retries are 0 to {limit}.")
ERROR_POLICY = _("The re-entry policy is one of once, after_days, always.")
ERROR_POLICY_DAYS = _("Give the days after which a profile may enter again (1 to 3650).")
ERROR_EXIT = _(
    "An exit rule is {'event': name}, {'segment_left': slug} or "
    "{'consent_withdrawn': channel or purpose}."
)
ERROR_GOAL = _("The goal is {'event': name, 'within_days': 1 to 365}.")


class FlowError(ValueError):
    """A definition that cannot be saved or go live; ``errors`` lists (place, message)."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__(
            "; ".join(f"{place}: {message}" if place else str(message) for place, message in errors)
        )


@dataclass(frozen=True)
class Step:
    key: str
    kind: str
    config: Mapping[str, Any]
    place: str
    paths: tuple[tuple[str, str | None], ...] = ()  # (outcome, first key of its path)
    next: str | None = None  # after a step that does not branch


@dataclass(frozen=True)
class Definition:
    raw: Mapping[str, Any]
    steps: dict[str, Step] = field(default_factory=dict)
    start: str | None = None

    @property
    def trigger(self) -> Mapping[str, Any]:
        return self.raw.get("trigger") or {}

    @property
    def reentry(self) -> tuple[str, int]:
        reentry = self.raw.get("reentry") or {}
        return reentry.get("policy", "once"), int(reentry.get("days") or 0)

    @property
    def exits(self) -> list[Mapping[str, Any]]:
        return list(self.raw.get("exit") or [])

    @property
    def goal(self) -> Mapping[str, Any] | None:
        return self.raw.get("goal") or None

    def after(self, step: Step, outcome: str | None = None) -> str | None:
        """Return the key of the step that follows ``step`` on ``outcome``; None: the end."""
        if step.paths:
            return dict(step.paths).get(outcome)
        return step.next

    def sends(self) -> Iterator[Step]:
        return (step for step in self.steps.values() if step.kind == "send")


class _Reader:
    def __init__(self, complete: bool, check: bool = True):
        self.complete = complete
        self.check = check
        self.errors: list[tuple[str, str]] = []
        self.steps: dict[str, Step] = {}

    def error(self, place: str, message: str) -> None:
        self.errors.append((place, message))

    def steps_read(self, raw, place: str, following: str | None = None) -> str | None:
        """Read a list of steps; return the first one's key."""
        if not isinstance(raw, list):
            self.error(place, ERROR_NOT_LIST)
            return None
        keys = []
        for index, item in enumerate(raw):
            key = self.step_read(item, f"{place}[{index}]", last=index == len(raw) - 1)
            keys.append(key)
        for index, key in enumerate(keys):
            if key and key in self.steps and not self.steps[key].paths:
                following_key = keys[index + 1] if index + 1 < len(keys) else None
                step = self.steps[key]
                self.steps[key] = Step(
                    step.key, step.kind, step.config, step.place, (), following_key
                )
        return keys[0] if keys else None

    def step_read(self, raw, place: str, *, last: bool) -> str | None:
        if not isinstance(raw, dict):
            self.error(place, ERROR_NOT_OBJECT)
            return None
        key, kind = raw.get("key"), raw.get("kind")
        if not isinstance(key, str) or not KEY_RE.match(key):
            self.error(f"{place}.key", ERROR_KEY)
            return None
        if key in self.steps:
            self.error(f"{place}.key", ERROR_KEY_TAKEN.format(key=key))
            return None
        if kind not in KINDS:
            self.error(f"{place}.kind", ERROR_KIND.format(kind=kind, kinds=", ".join(KINDS)))
            return None
        if len(self.steps) >= MAX_STEPS:
            self.error(place, ERROR_TOO_MANY.format(limit=MAX_STEPS))
            return None
        config = {name: value for name, value in raw.items() if name != "paths"}
        self.steps[key] = Step(key, kind, config, place)
        if self.check:
            CHECKS[kind](self, config, place)
        outcomes = _outcomes(kind, raw)
        if outcomes:
            if not last:
                self.error(place, ERROR_AFTER_BRANCH.format(key=key))
            self.steps[key] = Step(key, kind, config, place, self.paths_read(raw, outcomes, place))
        return key

    def paths_read(self, raw, outcomes: tuple[str, ...], place: str) -> tuple:
        paths = raw.get("paths")
        if not isinstance(paths, dict) or set(paths) != set(outcomes):
            self.error(f"{place}.paths", ERROR_PATHS.format(expected=", ".join(outcomes)))
            paths = paths if isinstance(paths, dict) else {}
        result = []
        control = raw.get("control") if raw.get("kind") == "split" else None
        for outcome in outcomes:
            steps = paths.get(outcome, [])
            first = self.steps_read(steps, f"{place}.paths.{outcome}")
            if first is None and self.complete and outcome != control:
                self.error(f"{place}.paths.{outcome}", ERROR_EMPTY_PATH.format(path=outcome))
            result.append((outcome, first))
        return tuple(result)


def _outcomes(kind: str, raw: Mapping) -> tuple[str, ...]:
    if kind == "wait":
        return BRANCHING["wait"] if raw.get("until_event") is not None else ()
    if kind == "split":
        percents = raw.get("percents")
        return tuple(percents) if isinstance(percents, dict) else ()
    return BRANCHING.get(kind, ())


def duration(raw) -> datetime.timedelta | None:
    """Return the timedelta of ``{"days": .., "hours": .., "minutes": ..}``; None if invalid."""
    if not isinstance(raw, dict) or not raw or set(raw) - {"days", "hours", "minutes"}:
        return None
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in raw.values()):
        return None
    delta = datetime.timedelta(**{name: value for name, value in raw.items()})
    return delta if datetime.timedelta(0) < delta <= MAX_WAIT else None


def clock(raw) -> datetime.time | None:
    """Return the time of "HH:MM"; None if invalid."""
    try:
        return datetime.time.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 5 else None
    except ValueError:
        return None


def _check_until(reader: _Reader, until, place: str) -> None:
    until = until if isinstance(until, dict) else {}
    days = until.get("weekdays", list(range(7)))
    if not isinstance(days, list) or not days or not all(d in range(7) for d in days):
        reader.error(f"{place}.until.weekdays", ERROR_WAIT_WEEKDAYS)
    if clock(until.get("time")) is None:
        reader.error(f"{place}.until.time", ERROR_WAIT_TIME)


def _check_until_event(reader: _Reader, config, place: str) -> None:
    event = config["until_event"]
    if not isinstance(event, dict) or not isinstance(event.get("event"), str) or not event["event"]:
        reader.error(f"{place}.until_event", ERROR_WAIT_EVENT)
    if duration(config.get("timeout")) is None:
        reader.error(f"{place}.timeout", ERROR_WAIT_LIMIT)


def _check_wait(reader: _Reader, config, place: str) -> None:
    forms = [name for name in ("duration", "until", "until_event") if config.get(name) is not None]
    if len(forms) != 1:
        reader.error(place, ERROR_WAIT_KIND)
    elif forms == ["duration"] and duration(config["duration"]) is None:
        reader.error(f"{place}.duration", ERROR_WAIT_LIMIT)
    elif forms == ["until"]:
        _check_until(reader, config["until"], place)
    elif forms == ["until_event"]:
        _check_until_event(reader, config, place)


def _check_branch(reader: _Reader, config, place: str) -> None:
    from flows.rules import branch_rule_error

    error = branch_rule_error(config.get("rule"), steps=reader.steps)
    if error:
        reader.error(f"{place}.rule", error)


def _check_split(reader: _Reader, config, place: str) -> None:
    percents = config.get("percents")
    if not isinstance(percents, dict) or len(percents) < 2:
        reader.error(f"{place}.percents", ERROR_SPLIT_PATHS)
        return
    values = list(percents.values())
    if (
        not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
        or sum(values) != 100
    ):
        reader.error(f"{place}.percents", ERROR_SPLIT_PERCENTS)
    control = config.get("control")
    if control is not None and control not in percents:
        reader.error(f"{place}.control", ERROR_SPLIT_CONTROL.format(name=control))


def _check_send(reader: _Reader, config, place: str) -> None:
    from flows.content import send_errors

    offered = channels_offered()
    if config.get("channel") not in offered:
        choices = ", ".join(offered)
        reader.error(f"{place}.channel", ERROR_CHANNEL.format(choices=choices))
        return
    variants = config.get("variants")
    if not isinstance(variants, list) or not variants:
        if reader.complete:
            reader.error(f"{place}.variants", ERROR_VARIANTS)
        return
    for where, message in send_errors(config, complete=reader.complete):
        reader.error(f"{place}.{where}", message)


def _check_update(reader: _Reader, config, place: str) -> None:
    names = ("add_tags", "remove_tags", "set_traits")
    if not any(config.get(name) for name in names):
        reader.error(place, ERROR_UPDATE_EMPTY)
    for name in ("add_tags", "remove_tags"):
        tags = config.get(name, [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            reader.error(f"{place}.{name}", ERROR_TAGS)
    traits = config.get("set_traits", {})
    scalar = (str, int, float, bool)
    if not isinstance(traits, dict) or not all(isinstance(v, scalar) for v in traits.values()):
        reader.error(f"{place}.set_traits", ERROR_TRAITS)


def _check_webhook(reader: _Reader, config, place: str) -> None:
    endpoint, url = config.get("endpoint"), config.get("url")
    if endpoint is not None and url is not None:
        reader.error(place, ERROR_WEBHOOK_BOTH)
    elif endpoint is not None:
        _check_webhook_endpoint(reader, endpoint, place)
    elif url is None:
        reader.error(f"{place}.endpoint", ERROR_WEBHOOK_TARGET)
    elif not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        reader.error(f"{place}.url", ERROR_WEBHOOK_URL)
    timeout = config.get("timeout_seconds", 5)
    if not isinstance(timeout, int) or not 1 <= timeout <= MAX_WEBHOOK_TIMEOUT:
        reader.error(
            f"{place}.timeout_seconds", ERROR_WEBHOOK_TIMEOUT.format(limit=MAX_WEBHOOK_TIMEOUT)
        )
    retries = config.get("retries", 3)
    if not isinstance(retries, int) or not 0 <= retries <= MAX_WEBHOOK_RETRIES:
        reader.error(f"{place}.retries", ERROR_WEBHOOK_RETRIES.format(limit=MAX_WEBHOOK_RETRIES))


def _check_webhook_endpoint(reader: _Reader, slug, place: str) -> None:
    """An endpoint is a slug; going live needs it to exist and be active."""
    from campaigns.selectors import webhook_endpoint_active

    if not isinstance(slug, str) or not slug:
        reader.error(f"{place}.endpoint", ERROR_WEBHOOK_TARGET)
    elif reader.complete and webhook_endpoint_active(slug=slug) is None:
        reader.error(f"{place}.endpoint", ERROR_WEBHOOK_ENDPOINT.format(slug=slug))


CHECKS = {
    "send": _check_send,
    "wait": _check_wait,
    "branch": _check_branch,
    "split": _check_split,
    "update_profile": _check_update,
    "webhook": _check_webhook,
    "exit": lambda reader, config, place: None,
}


def _check_policy(reader: _Reader, raw) -> None:
    reentry = raw.get("reentry") or {"policy": "once"}
    if not isinstance(reentry, dict) or reentry.get("policy") not in POLICIES:
        reader.error("reentry", ERROR_POLICY)
    elif reentry["policy"] == "after_days":
        days = reentry.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
            reader.error("reentry.days", ERROR_POLICY_DAYS)


def _check_exits_goal(reader: _Reader, raw) -> None:
    exits = raw.get("exit") or []
    if not isinstance(exits, list):
        reader.error("exit", ERROR_EXIT)
        exits = []
    forms = {"event", "segment_left", "consent_withdrawn"}
    for index, rule in enumerate(exits):
        if (
            not isinstance(rule, dict)
            or len(rule) != 1
            or not set(rule) <= forms
            or not isinstance(next(iter(rule.values())), str)
        ):
            reader.error(f"exit[{index}]", ERROR_EXIT)
    goal = raw.get("goal")
    if goal:
        days = goal.get("within_days") if isinstance(goal, dict) else None
        if (
            not isinstance(goal, dict)
            or not isinstance(goal.get("event"), str)
            or not (isinstance(days, int) and 1 <= days <= 365)
        ):
            reader.error("goal", ERROR_GOAL)


def definition_parse(raw, *, complete: bool = False, check: bool = True) -> Definition:
    """Return the typed definition of ``raw``; raise FlowError listing every problem.

    ``check=False`` reads a stored version's tree without checking its contents again (the
    engine runs what went live; a send step checks its content itself when it runs)."""
    from flows.rules import entry_rule_error

    reader = _Reader(complete, check)
    if not isinstance(raw, dict):
        raise FlowError([("", ERROR_NOT_OBJECT)])
    if not check:
        return Definition(
            raw=raw, steps=reader.steps, start=reader.steps_read(raw.get("steps", []), "steps")
        )
    for place, message in trigger_errors(raw.get("trigger"), complete=complete):
        reader.error(place, message)
    error = entry_rule_error(raw.get("entry_rule"))
    if error:
        reader.error("entry_rule", error)
    _check_policy(reader, raw)
    _check_exits_goal(reader, raw)
    start = reader.steps_read(raw.get("steps", []), "steps")
    if complete and start is None and not any(p == "steps" for p, _m in reader.errors):
        reader.error("steps", ERROR_NO_STEPS)
    if reader.errors:
        raise FlowError(reader.errors)
    return Definition(raw=raw, steps=reader.steps, start=start)
