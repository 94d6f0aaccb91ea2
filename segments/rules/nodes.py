"""The parsed rule: a small, typed, immutable tree of frozen dataclasses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from segments.rules.errors import TRAITS_PREFIX
from segments.rules.values import OPERATORS

JSONValue = str | int | float | bool | tuple


def thaw(value: Any) -> Any:
    """Return ``value`` with tuples turned back into lists (its JSON form)."""
    return [thaw(v) for v in value] if isinstance(value, tuple) else value


def freeze(value: Any) -> Any:
    """Return ``value`` with lists turned into tuples (hashable, immutable)."""
    return tuple(freeze(v) for v in value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True)
class AllOf:
    """True when every condition is true."""

    children: tuple[Node, ...]

    def to_json(self) -> dict:
        return {"all": [child.to_json() for child in self.children]}


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is true."""

    children: tuple[Node, ...]

    def to_json(self) -> dict:
        return {"any": [child.to_json() for child in self.children]}


@dataclass(frozen=True)
class Not:
    """True when the condition is false."""

    condition: Node

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.condition,)

    def to_json(self) -> dict:
        return {"not": self.condition.to_json()}


@dataclass(frozen=True)
class AttributeCondition:
    """A profile field, computed feature or trait compared with a value.

    ``value`` is the JSON value as given (lists frozen to tuples); ``operand`` is its typed
    form (``Decimal``, ``date``, ``datetime`` …) for the compiler.
    """

    attr: str
    op: str
    value: JSONValue | None = None
    operand: Any = field(default=None, compare=False, repr=False)

    @property
    def is_trait(self) -> bool:
        return self.attr.startswith(TRAITS_PREFIX)

    @property
    def trait_key(self) -> str:
        return self.attr.removeprefix(TRAITS_PREFIX)

    def to_json(self) -> dict:
        data = {"attr": self.attr, "op": self.op}
        if OPERATORS[self.op] != "none":
            data["value"] = thaw(self.value)
        return data


@dataclass(frozen=True)
class TagCondition:
    """The profile carries (or does not carry) a live tag."""

    tag: str
    op: str

    def to_json(self) -> dict:
        return {"tag": self.tag, "op": self.op}


def json_type(value: Any) -> str:
    """Return the JSON type of a scalar: "boolean", "number" or "text" (True is not 1)."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "text"


@dataclass(frozen=True, order=True)
class PropertyEquals:
    """An event property (a key of ``Event.properties``) equal to a value of the same JSON type.

    ``kind`` is the value's JSON type; it is part of equality (in Python ``True == 1``) and
    comes before the value in the order, so that values of different types are never compared.
    """

    key: str
    kind: str
    value: str | int | float | bool

    @classmethod
    def of(cls, key: str, value: str | int | float | bool) -> PropertyEquals:
        return cls(key=key, kind=json_type(value), value=value)


@dataclass(frozen=True)
class EventCondition:
    """The count, or the sum of amounts, of a profile's events in the last ``within_days``.

    ``where`` keeps only the events whose properties have all the given values (sorted by key).
    """

    event: str
    within_days: int
    measure: str  # "count" or "sum"
    op: str
    value: JSONValue
    operand: Any = field(default=None, compare=False, repr=False)
    where: tuple[PropertyEquals, ...] = ()

    def to_json(self) -> dict:
        data: dict[str, Any] = {"event": self.event}
        if self.where:
            data["where"] = {match.key: match.value for match in self.where}
        data["within_days"] = self.within_days
        comparison = {self.op: thaw(self.value)}
        if self.measure == "count":
            data["count"] = comparison
        else:
            data.update({"sum": "amount", "value": comparison})
        return data


@dataclass(frozen=True)
class SegmentCondition:
    """The profile is a member of another segment."""

    segment: str

    def to_json(self) -> dict:
        return {"segment": self.segment}


@dataclass(frozen=True)
class ConsentCondition:
    """The profile has granted consent on a channel."""

    consent: str
    op: str

    def to_json(self) -> dict:
        return {"consent": self.consent, "op": self.op}


class Node(Protocol):
    """A node of the tree: every condition kind's dataclass gives its JSON form back."""

    def to_json(self) -> dict: ...


def rule_to_json(tree: Node) -> dict:
    """Return the JSON form of a parsed rule (``parse_rule`` of it gives the same tree)."""
    return tree.to_json()


def walk(tree: Node) -> Iterator[Node]:
    """Yield every node of the tree, parents before their children."""
    yield tree
    for child in getattr(tree, "children", ()):
        yield from walk(child)


def referenced_segments(tree: Node) -> set[str]:
    """Return the slugs of the segments the rule refers to directly."""
    return {node.segment for node in walk(tree) if isinstance(node, SegmentCondition)}
