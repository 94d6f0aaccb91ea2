"""Fail when a module, a function's length or its cyclomatic complexity is over the house limits.

Limits (STYLE.md, issue #19): a module outside tests/ and migrations/ holds at most 600 lines; a
function at most 60 lines and a cyclomatic complexity (radon) of at most 15. A function may go over
when the line above its ``def`` (or the ``def`` line itself, or the line above its first decorator)
carries a comment ``# long: <reason>`` (length) or ``# complex: <reason>`` (complexity).

Usage: ``python .ci/complexity.py [PATH ...]`` (default: the repository). Prints one line per
violation, ``file:line name (N lines, cc N)``, and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import cc_visit
from radon.visitors import Class, Function

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 15

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {
    "tests",
    "migrations",
    ".venv",
    "venv",
    "node_modules",
    "static",
    "var",
    "locale",
    "templates",
    ".git",
    "__pycache__",
}
REASON = {"long": re.compile(r"#\s*long:\s*\S"), "complex": re.compile(r"#\s*complex:\s*\S")}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    name: str
    lines: int
    complexity: int | None
    kinds: tuple[str, ...]

    def __str__(self) -> str:
        cc = "-" if self.complexity is None else self.complexity
        return f"{self.path}:{self.line} {self.name} ({self.lines} lines, cc {cc})"


def python_files(paths: list[Path]) -> list[Path]:
    """Return the .py files under ``paths``, outside the skipped directories, sorted."""
    found: set[Path] = set()
    for path in paths:
        candidates = [path] if path.is_file() else path.rglob("*.py")
        for file in candidates:
            if file.suffix == ".py" and not SKIPPED_DIRS.intersection(_shown(file).parts[:-1]):
                found.add(file)
    return sorted(found)


def _shown(path: Path) -> Path:
    """Return ``path`` relative to the repository when it lies inside it."""
    try:
        return path.resolve().relative_to(ROOT)
    except ValueError:
        return path


def _functions(blocks) -> list[Function]:
    """Flatten radon's blocks into every function and method, nested ones included, once each."""
    out: dict[tuple[int, int], Function] = {}
    for block in blocks:
        if isinstance(block, Class):
            nested = _functions([*block.methods, *block.inner_classes])
        else:
            nested = [block, *_functions(block.closures)]
        for func in nested:
            out.setdefault((func.lineno, func.col_offset), func)
    return sorted(out.values(), key=lambda func: func.lineno)


def _excused(source: list[str], func: Function, kind: str) -> bool:
    """Say whether a ``# long:`` / ``# complex:`` comment stands beside the function."""
    def_line = func.lineno  # 1-based; radon points at the def line, after the decorators
    first = def_line
    while first > 1 and source[first - 2].lstrip().startswith("@"):
        first -= 1
    near = {def_line, def_line - 1, first - 1}
    return any(1 <= n <= len(source) and REASON[kind].search(source[n - 1]) for n in near)


def check_file(path: Path) -> list[Violation]:
    """Return the violations found in one module."""
    text = path.read_text(encoding="utf-8")
    source = text.splitlines()
    shown = str(_shown(path))
    found: list[Violation] = []
    if len(source) > MAX_MODULE_LINES:
        found.append(Violation(shown, 1, "<module>", len(source), None, ("module",)))
    for func in _functions(cc_visit(text)):
        length = func.endline - func.lineno + 1
        kinds = []
        if length > MAX_FUNCTION_LINES and not _excused(source, func, "long"):
            kinds.append("long")
        if func.complexity > MAX_COMPLEXITY and not _excused(source, func, "complex"):
            kinds.append("complex")
        if kinds:
            name = f"{func.classname}.{func.name}" if func.classname else func.name
            found.append(Violation(shown, func.lineno, name, length, func.complexity, tuple(kinds)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: all)")
    args = parser.parse_args(argv)
    paths = [p if p.is_absolute() else Path.cwd() / p for p in args.paths] or [ROOT]
    violations = [v for file in python_files(paths) for v in check_file(file)]
    for violation in violations:
        print(violation)
    if violations:
        print(
            f"complexity: {len(violations)} over the limits (module {MAX_MODULE_LINES} lines, "
            f"function {MAX_FUNCTION_LINES} lines or cc {MAX_COMPLEXITY}); shorten them or add "
            "'# long: <reason>' / '# complex: <reason>' above the def",
            file=sys.stderr,
        )
        return 1
    print("complexity: every module and function within the limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
