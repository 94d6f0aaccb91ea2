"""The sandbox operators' templates run in: Jinja2's immutable sandbox, bounded in size and time.

Jinja2's sandbox stops a template from reaching what it may not (attributes, mutation, globals),
but not from spending: ``name.center(5000000)``, ``'%05000000d'|format(1)``, nested loops or
``((10**100)**100)**100`` run in the web request that saves or previews a campaign, and in the
worker once per recipient. Every render here has a budget (``template_render``):

- every value a template builds or outputs is at most ``MAX_CHARS`` characters (``MAX_REPEAT``
  for what ``*`` repeats), and all it
  outputs together too (``{{ … }}`` values and the text of each loop iteration, inside macros
  and ``{% set %}`` blocks as well); widths and precisions (format specs, ``center``, ``indent``
  …) are at most ``MAX_WIDTH``; integers at most ``MAX_INT_BITS`` bits;
- all its loops together iterate at most ``MAX_ITERATIONS`` times;
- it runs for at most ``MAX_SECONDS`` (checked at every call, operator, filter, loop iteration
  and output);
- its source is at most ``MAX_SOURCE_CHARS`` long and ``MAX_NESTING`` levels deep.

A template over a limit raises ``LimitExceeded`` with a message a manager can act on. Sizes are
checked before an operation allocates wherever the result's size can be told in advance.
"""

from __future__ import annotations

import functools
import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_CHARS = 500_000  # the largest value, and all the output, of one render (characters)
MAX_REPEAT = 10_000  # the longest string or list that `*` may produce
MAX_ITERATIONS = 100_000  # loop iterations of one render, all loops together
MAX_SECONDS = 2.0  # wall time of one render
MAX_WIDTH = 1_000  # a width or precision (format specs, center, indent, batch …)
MAX_INT_BITS = 14_000  # the largest integer a template may build (about 4,200 digits)
MAX_POWER = 100  # the largest exponent `**` may use
MAX_SOURCE_CHARS = 200_000  # the longest template
MAX_NESTING = 60  # how deep blocks and expressions may nest

ERROR_TOO_BIG = gettext_noop(
    "This template would produce a value that is too large (over {limit} characters)."
)
ERROR_TOO_WIDE = gettext_noop("A width, precision or count in this template is over {limit}.")
ERROR_TOO_MANY_ITERATIONS = gettext_noop("This template's loops would run more than {limit} times.")
ERROR_TOO_SLOW = gettext_noop("This template takes more than {seconds} seconds to render.")
ERROR_TOO_LONG = gettext_noop("This template is too long (over {limit} characters).")
ERROR_TOO_DEEP = gettext_noop("This template is nested too deeply (over {limit} levels).")
ERROR_NUMBER_TOO_BIG = gettext_noop("This template would compute a number that is too large.")

LOOP_GUARD = "_loop_budget"  # the filter every loop's iterable goes through
CONCAT_GUARD = "_concat_budget"  # the filter every ``a ~ b`` goes through


class LimitExceeded(SecurityError):
    """A template went over one of the render limits; the message says which."""


def too_big(limit: int = MAX_CHARS) -> LimitExceeded:
    return LimitExceeded(_(ERROR_TOO_BIG).format(limit=f"{limit:,}"))


def _too_wide() -> LimitExceeded:
    return LimitExceeded(_(ERROR_TOO_WIDE).format(limit=f"{MAX_WIDTH:,}"))


# --- the budget of one render ------------------------------------------------------------------


class _Budget:
    __slots__ = ("chars", "deadline", "iterations", "ticks")

    def __init__(self):
        self.deadline = time.monotonic() + MAX_SECONDS
        self.iterations = 0
        self.chars = 0
        self.ticks = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(_(ERROR_TOO_SLOW).format(seconds=f"{MAX_SECONDS:g}"))

    def tick(self) -> None:
        """Count one operation; look at the clock every 16 (each operation is bounded)."""
        self.ticks += 1
        if not self.ticks & 15:
            self.check_time()

    def produce(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_CHARS:
            raise too_big()
        self.tick()

    def iterate(self, body_chars: int) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise LimitExceeded(_(ERROR_TOO_MANY_ITERATIONS).format(limit=f"{MAX_ITERATIONS:,}"))
        self.produce(body_chars)


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def size_of(value: Any, depth: int = 0) -> int:
    """Return about how many characters ``value`` weighs (strings, numbers, nested containers);
    stop counting once over ``MAX_CHARS``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        total = len(value)
        if depth < 4:
            for item in value:
                total += size_of(item, depth + 1)
                if total > MAX_CHARS:
                    break
        return total
    return 0


def _bounded(value: Any) -> Any:
    if size_of(value) > MAX_CHARS:
        raise too_big()
    return value


# --- format strings ----------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _numbers_fit(text: str) -> bool:
    return all(len(run) <= 6 and int(run) <= MAX_WIDTH for run in _DIGITS.findall(text))


def _largest(values: Iterable[Any]) -> int:
    return max((size_of(value) for value in values), default=0)


def _formatted_size(text: str, fields: int, values: Iterable[Any]) -> int:
    """Return at most how many characters ``fields`` replacement fields of ``text`` produce."""
    return len(text) + fields * (_largest(values) + MAX_WIDTH)


def _check_braces_format(text: str, values: Iterable[Any] = ()) -> None:
    """Refuse a ``str.format`` string with a width or precision over MAX_WIDTH, or whose result
    (each field at most the largest value) would be too large."""
    fields = 0
    for _literal, field, spec, _conversion in string.Formatter().parse(text):
        if field is None:
            continue
        fields += 1
        if spec and ("{" in spec or not _numbers_fit(spec)):  # {:{width}}: from an argument
            raise _too_wide()
    if fields and _formatted_size(text, fields, values) > MAX_CHARS:
        raise too_big()


def _check_percent_format(text: str, values: Any = ()) -> None:
    """Refuse a ``%`` format string with a width or precision over MAX_WIDTH, or given as ``*``,
    or whose result would be too large."""
    fields = 0
    for match in _PERCENT_SPEC.finditer(text):
        fields += 1
        for number in match.groups():
            if number == "*" or (number and (len(number) > 6 or int(number) > MAX_WIDTH)):
                raise _too_wide()
    if isinstance(values, dict):
        values = values.values()
    elif not isinstance(values, (tuple, list)):
        values = (values,)
    if fields and _formatted_size(text, fields, values) > MAX_CHARS:
        raise too_big()


# --- filters ------------------------------------------------------------------------------------

_WIDTH_FILTERS = frozenset({"center", "indent", "batch", "slice", "tojson"})
_MAX_WRAPSTRING = 16  # wordwrap's line break, e.g. "<br>\n"


def _ints_fit(values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
            raise _too_wide()


def _replace_size(text: Any, old: Any, new: Any) -> int:
    text, old, new = str(text), str(old), str(new)
    count = len(text) + 1 if old == "" else text.count(old)
    return len(text) + count * max(len(new) - len(old), 0)


def _join_size(items: Any, sep: Any) -> int:
    if not isinstance(items, (list, tuple, str)):
        return 0  # a generator: its items are bounded as the filters that made it
    return size_of(list(items)) + len(items) * len(str(sep))


def _indent_size(value: Any, width: Any) -> int:
    text = str(value)
    return len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(width))


def _argument(rest: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    return rest[index] if len(rest) > index else kwargs.get(name, default)


def _filter_estimate(name: str, value: Any, rest: tuple, kwargs: dict) -> int:
    """Return how many characters a filter would produce, where that is known beforehand."""
    if name == "indent":
        return _indent_size(value, _argument(rest, kwargs, 0, "width", 4))
    if name == "replace" and len(rest) >= 2:
        return _replace_size(value, rest[0], rest[1])
    if name == "join":
        return _join_size(value, _argument(rest, kwargs, 0, "d", ""))
    if name == "tojson":
        indent = _argument(rest, kwargs, 0, "indent")
        return size_of(value) * ((indent if isinstance(indent, int) else 0) + 2)
    return 0


def _filter_precheck(name: str, args: tuple, kwargs: dict) -> None:
    """Refuse before running a filter whose result would be over the limits."""
    value, rest = (args[0] if args else None), args[1:]
    if size_of(value) > MAX_CHARS:  # e.g. a list of many references to one long string
        raise too_big()
    if name in _WIDTH_FILTERS:
        _ints_fit((*rest, *kwargs.values()))
    if name == "wordwrap":
        wrap = _argument(rest, kwargs, 2, "wrapstring")
        if wrap is not None and len(str(wrap)) > _MAX_WRAPSTRING:
            raise _too_wide()
    if name == "format" and isinstance(value, str):
        _check_percent_format(value, kwargs or rest)
    if _filter_estimate(name, value, rest, kwargs) > MAX_CHARS:
        raise too_big()


def _guarded_filter(name: str, func: Callable) -> Callable:
    """Return ``func`` checked against the budget before and after it runs."""

    @functools.wraps(func)  # keeps jinja's pass_context/pass_eval_context marks
    def guarded(*args, **kwargs):
        _tick()
        # The filtered value comes after the context a pass_* filter receives first.
        skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
        _filter_precheck(name, args[skip:], kwargs)
        return _bounded(func(*args, **kwargs))

    return guarded


def _loop_budget(iterable: Any, body_chars: int = 0) -> Iterator[Any]:
    """Yield ``iterable``'s items, counting each iteration (and its text) against the budget."""
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.iterate(body_chars)
        yield item


# --- the environment ----------------------------------------------------------------------------

_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _method_precheck(obj: Any, args: tuple, kwargs: dict) -> None:
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS:
        _ints_fit((*args, *kwargs.values()))
    elif name == "replace" and len(args) >= 2:
        if _replace_size(owner, args[0], args[1]) > MAX_CHARS:
            raise too_big()
    elif name == "join" and args and _join_size(args[0], owner) > MAX_CHARS:
        raise too_big()


def _int_bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) else 0


def _power_check(left: Any, right: Any) -> None:
    if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
        raise LimitExceeded(_(ERROR_NUMBER_TOO_BIG))
    whole = isinstance(left, int) and isinstance(right, int) and right > 0
    if whole and _int_bits(left) * right > MAX_INT_BITS:
        raise LimitExceeded(_(ERROR_NUMBER_TOO_BIG))


def _times_check(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            raise LimitExceeded(_(ERROR_NUMBER_TOO_BIG))
        return
    for seq, times in ((left, right), (right, left)):
        sized = isinstance(seq, (str, list, tuple)) and isinstance(times, int)
        if sized and size_of(seq) * max(times, 0) > MAX_REPEAT:
            raise too_big(MAX_REPEAT)


class Environment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with no globals and every operation bounded (see the module)."""

    intercepted_binops = frozenset(["*", "**", "%", "+"])

    def __init__(self, *, autoescape: bool):
        super().__init__(
            undefined=StrictUndefined,
            autoescape=autoescape,
            auto_reload=False,
            cache_size=0,
            keep_trailing_newline=True,
            optimized=False,  # nothing runs at compile time, outside a budget
            finalize=_output_count,
        )
        # No range, dict, lipsum, cycler, joiner or namespace: only the whitelisted values.
        self.globals.clear()
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}
        self.filters[LOOP_GUARD] = _loop_budget
        self.filters[CONCAT_GUARD] = _concat_budget

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        _tick()
        if operator_name == "**":
            _power_check(left, right)
            return operator.pow(left, right)
        if operator_name == "*":
            _times_check(left, right)
            return operator.mul(left, right)
        if operator_name == "%" and isinstance(left, str):
            _check_percent_format(left, right)
        if operator_name == "+" and size_of(left) + size_of(right) > MAX_CHARS:
            raise too_big()
        return _bounded(super().call_binop(context, operator_name, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        def bounded_format(*args, **kwargs):
            _tick()
            values = [*args, *kwargs.values()]
            if value.__name__ == "format_map" and args and isinstance(args[0], dict):
                values = list(args[0].values())
            _check_braces_format(text, values)
            return _bounded(wrapped(*args, **kwargs))

        return bounded_format

    def call(self, context, obj, /, *args, **kwargs):
        _tick()
        if _largest((*args, *kwargs.values())) > MAX_CHARS:
            raise too_big()
        _method_precheck(obj, args, kwargs)
        return _bounded(super().call(context, obj, *args, **kwargs))


def _output_count(value: Any) -> Any:
    """Count one ``{{ … }}`` output against the budget (Jinja2's ``finalize``)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.produce(_output_size(value))
    return value


def _output_size(value: Any) -> int:
    """Return how many characters ``value`` takes as text (containers estimated, not built)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return size_of(value)
    return len(str(value))


# --- compiling and rendering ---------------------------------------------------------------------


def _depth(ast: nodes.Node) -> int:
    """Return how deep the template's node tree is (without recursion)."""
    deepest, stack = 0, [(ast, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _text_size(body: list[nodes.Node]) -> int:
    """Return the characters of template text in a loop body (output at each iteration)."""
    return sum(len(data.data) for node in body for data in node.find_all(nodes.TemplateData)) + sum(
        len(node.data) for node in body if isinstance(node, nodes.TemplateData)
    )


@pass_eval_context
def _concat_budget(eval_ctx, parts: list) -> str:
    """Join ``a ~ b ~ …`` as Jinja2 does, once the parts' total size is known to fit."""
    if sum(_output_size(part) for part in parts) > MAX_CHARS:
        raise too_big()
    return (markup_join if eval_ctx.autoescape else str_join)(parts)


def loops_bound(ast: nodes.Template) -> nodes.Template:
    """Route every loop's iterable through the budget's loop guard, and every ``~`` through a
    sized join (in place; returns ``ast``)."""
    for concat in list(ast.find_all(nodes.Concat)):
        parts = nodes.List(list(concat.nodes), lineno=concat.lineno)
        guarded = nodes.Filter(parts, CONCAT_GUARD, [], [], None, None, lineno=concat.lineno)
        concat.nodes = [guarded]
    for loop in ast.find_all(nodes.For):
        body_chars = _text_size(loop.body)
        loop.iter = nodes.Filter(
            loop.iter, LOOP_GUARD, [nodes.Const(body_chars)], [], None, None, lineno=loop.lineno
        )
    return ast


def source_check(source: str, ast: nodes.Template | None = None) -> str | None:
    """Return why ``source`` (or its parsed ``ast``) is too long or too deep, or None."""
    if len(source) > MAX_SOURCE_CHARS:
        return _(ERROR_TOO_LONG).format(limit=f"{MAX_SOURCE_CHARS:,}")
    if ast is not None and _depth(ast) > MAX_NESTING:
        return _(ERROR_TOO_DEEP).format(limit=MAX_NESTING)
    return None


def too_deep() -> str:
    """Return the message for a template whose nesting Python itself cannot follow."""
    return _(ERROR_TOO_DEEP).format(limit=MAX_NESTING)


def template_render(template, context: dict[str, Any]) -> str:
    """Render ``template`` within a fresh budget; raise LimitExceeded when over a limit."""
    token = _BUDGET.set(_Budget())
    try:
        return template.render(context)
    finally:
        _BUDGET.reset(token)
