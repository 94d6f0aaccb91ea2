"""Segment rules inside flows: the entry rule, and branch rules that may ask about a step's
message ("opened the message of step X"), which become engagement conditions on that step's
campaign in the version being run."""

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from profiles.models import Profile
from segments.compiler import rule_matching
from segments.rules import RuleError, parse_rule
from segments.selectors import segment_rule

STEP_MESSAGE_DAYS = 3650
ERROR_STEP_NOT_SEND = _("“{key}” is not a send step before this branch.")
ERROR_RULE_REQUIRED = _("Give the branch a rule.")


def _rewrite(node: Any, replace: Callable[[Mapping], Mapping]) -> Any:
    """Return a copy of rule ``node`` with every ``{"message": .., "step": ..}`` replaced."""
    if isinstance(node, Mapping):
        if "message" in node and "step" in node:
            return replace(node)
        return {key: _rewrite(value, replace) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(item, replace) for item in node]
    return copy.deepcopy(node)


def step_keys(rule: Any) -> set[str]:
    """Return the steps whose message the rule asks about."""
    found: set[str] = set()

    def note(node: Mapping) -> Mapping:
        found.add(str(node["step"]))
        return node

    _rewrite(rule, note)
    return found


def _with_campaigns(rule: Any, campaigns: Mapping[str, str] | None) -> Any:
    """Replace step references by the step's campaign (any campaign when not known yet)."""

    def replace(node: Mapping) -> Mapping:
        out = {k: v for k, v in node.items() if k != "step"}
        out.setdefault("within_days", STEP_MESSAGE_DAYS)
        if campaigns is not None:
            out["campaign"] = campaigns[str(node["step"])]
        return out

    return _rewrite(rule, replace)


def entry_rule_error(rule: Any) -> str | None:
    """Return why ``rule`` cannot be an entry rule (None: it can; no rule lets everyone in)."""
    if rule in (None, {}):
        return None
    try:
        parse_rule(rule, resolve=segment_rule)
    except RuleError as error:
        return str(error)
    return None


def branch_rule_error(rule: Any, *, steps: Mapping) -> str | None:
    """Return why ``rule`` cannot be a branch's rule, given the steps read before it."""
    if rule in (None, {}):
        return ERROR_RULE_REQUIRED
    for key in step_keys(rule):
        if key not in steps or steps[key].kind != "send":
            return ERROR_STEP_NOT_SEND.format(key=key)
    try:
        parse_rule(_with_campaigns(rule, None), resolve=segment_rule)
    except RuleError as error:
        return str(error)
    return None


def profiles_matching(
    rule: Any, profile_ids: Iterable[int], *, campaigns: Mapping[str, str] | None = None, now=None
) -> set[int]:
    """Return which of ``profile_ids`` satisfy ``rule`` now (one query for them all)."""
    ids = list(profile_ids)
    if rule in (None, {}) or not ids:
        return set(ids)
    tree = parse_rule(_with_campaigns(rule, campaigns or {}), resolve=segment_rule)
    matching, _choice = rule_matching(tree, now=now or timezone.now())
    return set(
        Profile.objects.filter(Q(pk__in=ids) & Q(pk__in=matching)).values_list("pk", flat=True)
    )
