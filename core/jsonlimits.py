"""JSON from outside, bounded in depth: a document nested thousands deep is refused, not a 500.

Python's ``json`` raises RecursionError on a document nested about a thousand levels deep, and
the code that reads a shallower one (rules, definitions, the database's own JSON) may recurse
further. ``json_loads`` and the API's ``JSONParser`` refuse anything nested more than
``MAX_JSON_DEPTH`` levels with a ``JSONDecodeError`` (a ValueError) saying so.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 100
ERROR_TOO_DEEP = _("The JSON is nested more than {limit} levels deep.")
ERROR_NUL = _("The JSON holds a NUL character (\\u0000), which no field accepts.")


class JsonTooDeep(json.JSONDecodeError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""

    def __init__(self, doc: str = ""):
        super().__init__(str(ERROR_TOO_DEEP).format(limit=MAX_JSON_DEPTH), doc, 0)


def json_depth_over(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return True if ``value`` nests lists and objects more than ``limit`` levels deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def json_has_nul(value: Any) -> bool:
    """Return True if a key or a string anywhere in ``value`` holds a NUL character (which
    PostgreSQL's JSON cannot store)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_loads(text: str | bytes, **kwargs) -> Any:
    """Return ``json.loads(text)``; raise a JSONDecodeError (a ValueError) if it nests too deep
    or holds a NUL character."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise JsonTooDeep() from None
    if json_depth_over(value):
        raise JsonTooDeep()
    if json_has_nul(value):
        raise json.JSONDecodeError(str(ERROR_NUL), "", 0)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a document nested more than MAX_JSON_DEPTH levels deep."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            value = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(str(ERROR_TOO_DEEP).format(limit=MAX_JSON_DEPTH)) from None
        if json_depth_over(value):
            raise ParseError(str(ERROR_TOO_DEEP).format(limit=MAX_JSON_DEPTH))
        return value
