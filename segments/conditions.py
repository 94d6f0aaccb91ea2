"""The registry of segment rule condition kinds and attributes: one public way to add either.

A condition kind is the key that introduces it in the rule JSON (``"tag"``, ``"event"`` …), the
frozen dataclass it parses into, and three functions: the parser (JSON → node), the compiler
(node → a condition on profiles) and the explainer (the value a profile shows for it). The
parser (``segments.rules``), the compiler (``segments.compiler``) and the explanation
(``segments.explain``) find a kind only here. Segments registers its built-in kinds from
``SegmentsConfig.ready()`` (``segments.builtins``); an app above segments (journeys' stage, the
coming predictions) registers its own from its ``ready()`` the same way::

    condition_register(
        "stage", node_type=StageCondition, parser=parse_stage, compiler=compile_stage,
        explainer=explain_stage, profile_columns=lambda node: {"stage"},
    )

An *attribute* is a name usable in ``{"attr": …, "op": …, "value": …}``: a field of the profile
or of a model with a foreign key to it (one row per profile), with the value type that decides
which operators apply and how a value is checked::

    attribute_register("churn_risk", value_type=rules.DECIMAL, model=Prediction,
                       field="churn_risk", behaviour=True)

This module holds tables only and imports no other part of the engine, so every part can read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model, Q

    from segments.rules import ParseContext, ValueType

# parser(node JSON, path, context, depth) -> node; compiler(node, path, env) -> Q;
# explainer(node, profile, now) -> (kind, actual value, the value for people).
Parser = Callable[[Mapping, str, "ParseContext", int], Any]
Compiler = Callable[[Any, str, Any], "Q"]
Explainer = Callable[[Any, Any, Any], tuple[str, Any, str]]


@dataclass(frozen=True)
class ConditionKind:
    """One kind of condition: its JSON key, node type and the functions that handle it.

    ``explainer`` is None for the groups (all, any, not), explained by their children.
    ``profile_columns(node)`` names the profile columns the condition reads (None: unknown, so
    a refresh scans the whole profile table instead of a narrow copy). ``behaviour(node)`` says
    whether it looks at behaviour, which profiles that withdrew profiling are left out of.
    ``builder()`` returns what the rule builder offers for the kind (its label, its choices, as
    JSON with translated text), or is None for a kind the builder knows itself or shows as is.
    ``describer(node JSON, writer)`` says a node in words for ``segments.sentence`` (it may
    raise KeyError, TypeError or ValueError on a node it cannot read: shown as JSON then).
    """

    key: str
    node_type: type
    parser: Parser
    compiler: Compiler
    explainer: Explainer | None = None
    profile_columns: Callable[[Any], set[str]] | None = None
    behaviour: Callable[[Any], bool] | None = None
    builder: Callable[[], dict] | None = None
    describer: Callable[[Mapping, Any], str] | None = None


@dataclass(frozen=True)
class Attribute:
    """An attribute rules compare: where it is stored and the type of its values.

    ``model`` None means a field of the profile; otherwise a model holding at most one row per
    profile, found through its foreign key ``profile_field``; a profile without a row has no
    value (no comparison holds, ``ne`` / ``not_in`` / ``is_not_set`` do).
    """

    name: str
    value_type: ValueType
    field: str
    model: type[Model] | None = None
    profile_field: str = "profile"
    behaviour: bool = False  # computed from behaviour: left out for profiles without profiling
    label: str = ""  # the name people read in the rule builder (lazy translation); "" = none
    # text -> every stored spelling "eq"/"in" match (上海 → 上海, 上海市, Shanghai); None: as is
    spellings: Callable[[str], tuple[str, ...]] | None = None
    # the (value, label) pairs the rule builder offers to pick from (the clusters); None: none
    suggestions: Callable[[], list[tuple[str, str]]] | None = None

    @property
    def on_profile(self) -> bool:
        return self.model is None


_KINDS: dict[str, ConditionKind] = {}
_BY_TYPE: dict[type, ConditionKind] = {}
_ATTRIBUTES: dict[str, Attribute] = {}


def condition_register(
    key: str,
    *,
    node_type: type,
    parser: Parser,
    compiler: Compiler,
    explainer: Explainer | None = None,
    profile_columns: Callable[[Any], set[str]] | None = None,
    behaviour: Callable[[Any], bool] | None = None,
    builder: Callable[[], dict] | None = None,
    describer: Callable[[Mapping, Any], str] | None = None,
) -> ConditionKind:
    """Register (or replace, keeping its place) the condition kind introduced by ``key``."""
    kind = ConditionKind(
        key=key,
        node_type=node_type,
        parser=parser,
        compiler=compiler,
        explainer=explainer,
        profile_columns=profile_columns,
        behaviour=behaviour,
        builder=builder,
        describer=describer,
    )
    previous = _KINDS.get(key)
    if previous is not None:
        _BY_TYPE.pop(previous.node_type, None)
    _KINDS[key] = kind
    _BY_TYPE[node_type] = kind
    return kind


def attribute_register(
    name: str,
    *,
    value_type: ValueType,
    field: str | None = None,
    model: type[Model] | None = None,
    profile_field: str = "profile",
    behaviour: bool = False,
    label: str = "",
    spellings: Callable[[str], tuple[str, ...]] | None = None,
    suggestions: Callable[[], list[tuple[str, str]]] | None = None,
) -> Attribute:
    """Register (or replace) attribute ``name``, stored in ``field`` (default: ``name``).

    ``label`` is what the rule builder shows people (a lazy translation, optional);
    ``spellings`` widens an equality to every spelling of the value; ``suggestions`` returns
    the (value, label) pairs the builder offers.
    """
    attribute = Attribute(
        name=name,
        value_type=value_type,
        field=field or name,
        model=model,
        profile_field=profile_field,
        behaviour=behaviour,
        label=label,
        spellings=spellings,
        suggestions=suggestions,
    )
    _ATTRIBUTES[name] = attribute
    return attribute


def condition_kinds() -> Mapping[str, ConditionKind]:
    """Return the registered kinds by key, in the order they were registered (read-only)."""
    return MappingProxyType(_KINDS)


def condition_kind_of(node: Any) -> ConditionKind | None:
    """Return the kind a parsed node belongs to, or None when its type is not registered."""
    return _BY_TYPE.get(type(node))


def attributes() -> Mapping[str, Attribute]:
    """Return the registered attributes by name, in the order they were registered (read-only)."""
    return MappingProxyType(_ATTRIBUTES)


def registry_snapshot() -> tuple[dict, dict, dict]:
    """Return a copy of the registry, for ``registry_restore`` (tests register extra kinds)."""
    return dict(_KINDS), dict(_BY_TYPE), dict(_ATTRIBUTES)


def registry_restore(snapshot: tuple[dict, dict, dict]) -> None:
    """Put back the registry as ``registry_snapshot`` returned it."""
    for table, saved in zip((_KINDS, _BY_TYPE, _ATTRIBUTES), snapshot, strict=True):
        table.clear()
        table.update(saved)
