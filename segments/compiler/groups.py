"""Compile the groups: ``all`` (merging its event aggregates), ``any`` and ``not``."""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce

from django.db.models import Q

from segments import rules
from segments.compiler.core import compile_node
from segments.compiler.events import events_merged, mergeable_events, shared_events_merged
from segments.compiler.expressions import Env


def _group(kind: str, combine: Callable[[Q, Q], Q]):
    def compile_group(node, path: str, env: Env) -> Q:
        items = rules.key_path(path, kind)
        children = list(enumerate(node.children))
        parts = []
        if kind == "all":  # one grouped scan (or one read of the shared table) per event
            merged, children = mergeable_events(children, env.shared)
            merge = events_merged if env.shared is None else shared_events_merged
            parts.extend(merge(nodes, env) for nodes in merged)
        parts.extend(compile_node(child, rules.index_path(items, i), env) for i, child in children)
        return reduce(combine, parts)

    return compile_group


compile_all = _group("all", operator.and_)
compile_any = _group("any", operator.or_)


def compile_not(node: rules.Not, path: str, env: Env) -> Q:
    """Return the exact complement of the condition (conditions are never SQL's unknown)."""
    return ~compile_node(node.condition, rules.key_path(path, "not"), env)
