"""The complexity check of .ci/complexity.py: what it flags, what a reason comment excuses."""

import importlib.util
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "complexity.py"


@pytest.fixture(scope="module")
def complexity():
    spec = importlib.util.spec_from_file_location("ci_complexity", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _long_body(n: int = 65) -> str:
    return "\n".join(f"    x{i} = {i}" for i in range(n)) + "\n"


def _branchy_body(n: int = 16) -> str:
    return "".join(f"    if a == {i}:\n        return {i}\n" for i in range(n))


def _check(complexity, tmp_path, source: str) -> list:
    path = tmp_path / "sample.py"
    path.write_text(source, encoding="utf-8")
    return complexity.check_file(path)


def test_it_flags_a_function_over_60_lines(complexity, tmp_path):
    source = "def f():\n" + _long_body()

    (violation,) = _check(complexity, tmp_path, source)

    assert (violation.name, violation.line, violation.lines) == ("f", 1, 66)
    assert violation.kinds == ("long",)
    assert str(violation).endswith("sample.py:1 f (66 lines, cc 1)")


def test_it_flags_a_method_over_complexity_15_once(complexity, tmp_path):
    source = "class C:\n" + "\n".join(
        "    " + line for line in ("def m(self, a):\n" + _branchy_body()).splitlines()
    )

    (violation,) = _check(complexity, tmp_path, source)

    assert (violation.name, violation.complexity, violation.kinds) == ("C.m", 17, ("complex",))


def test_a_reason_above_the_def_or_its_decorator_or_on_it_excuses_it(complexity, tmp_path):
    source = (
        "# long: a generated table\ndef a():\n"
        + _long_body()
        + "\n# long: one step\n@staticmethod\ndef b():\n"
        + _long_body()
        + "\ndef c(a):  # complex: a dispatch\n"
        + _branchy_body()
    )

    assert _check(complexity, tmp_path, source) == []


def test_a_reason_of_the_other_kind_or_without_text_does_not(complexity, tmp_path):
    source = "# complex: wrong kind\ndef a():\n" + _long_body() + "\n# long:\ndef b():\n"
    source += _long_body()

    assert [v.name for v in _check(complexity, tmp_path, source)] == ["a", "b"]


def test_it_flags_a_module_over_600_lines(complexity, tmp_path):
    source = "\n".join(f"X{i} = {i}" for i in range(601)) + "\n"

    (violation,) = _check(complexity, tmp_path, source)

    assert (violation.name, violation.lines, violation.kinds) == ("<module>", 601, ("module",))


def test_it_leaves_out_tests_and_migrations(complexity):
    root = complexity.ROOT

    files = complexity.python_files([root / "campaigns", root / "tests"])

    assert files
    assert not any({"tests", "migrations"} & set(f.relative_to(root).parts) for f in files)
