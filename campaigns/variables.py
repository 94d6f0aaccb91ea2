"""Template variables that apps above campaigns add to messages (predictions' scores …).

Profile fields reach templates through ``core.fields`` (loaded with the send rows); a variable
kept elsewhere is registered here by its app from ``ready()``, with a sample value for the
save-time check and a loader that reads the values of many profiles in one query::

    template_variable_register(
        "clv_365d", sample=Decimal("1280.00"), load=lambda ids: {…profile id: value…}
    )

A profile the loader does not return gets ``default``. The content check, the preview and
delivery (one load per batch, only for the variables the campaign's templates use) read the
registry; this module imports nothing else of the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Loader = Callable[[Sequence[int]], Mapping[int, Any]]


@dataclass(frozen=True)
class TemplateVariable:
    """A variable of message templates stored outside the profile."""

    name: str
    sample: Any
    load: Loader
    default: Any = None


_VARIABLES: dict[str, TemplateVariable] = {}


def template_variable_register(
    name: str, *, sample: Any, load: Loader, default: Any = None
) -> TemplateVariable:
    """Register (or replace) the template variable ``name``."""
    variable = TemplateVariable(name=name, sample=sample, load=load, default=default)
    _VARIABLES[name] = variable
    return variable


def template_variables() -> Mapping[str, TemplateVariable]:
    """Return the registered variables by name (read-only)."""
    return MappingProxyType(_VARIABLES)


def variables_load(names: Iterable[str], profile_ids: Sequence[int]) -> dict[int, dict]:
    """Return {profile id: {name: value}} of the registered ``names`` for these profiles."""
    wanted = [_VARIABLES[name] for name in names if name in _VARIABLES]
    values: dict[int, dict] = {pk: {} for pk in profile_ids}
    for variable in wanted:
        found = variable.load(profile_ids) if profile_ids else {}
        for pk in profile_ids:
            values[pk][variable.name] = found.get(pk, variable.default)
    return values
