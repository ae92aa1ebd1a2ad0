"""The fast tier (``tools/run-tests --fast``) runs every module of the product: a change to any
of them is tried by the five-minute loop, not only by the thirty-minute one.

"Runs" means more than imported: some function or method of the module ran (a module of
definitions only, such as an enum's, counts once imported). Measured by coverage.py over the
fast tier's own session, the processes it starts included (tools/run-tests --fast measures it;
pyproject.toml's ``[tool.coverage.run]``). This test runs last in that session (conftest.py).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "parakeet_desktop"


def _function_lines(source: str) -> set[int]:
    """The lines of the statements inside the module's functions and methods."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for statement in node.body:
                lines.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
    return lines


def _lines_run(cov) -> dict[str, set[int]]:
    """The lines run so far, by file: this process's, and those of the processes it started that
    have ended (each saved its data file)."""
    from coverage import CoverageData

    run: dict[str, set[int]] = {}
    sources = [cov.get_data()]
    data_file = Path(cov.config.data_file)
    for path in data_file.parent.glob(data_file.name + ".*"):
        other = CoverageData(basename=str(path))
        try:
            other.read()
        except Exception:  # a process still writing its file: its lines are not counted
            continue
        sources.append(other)
    for data in sources:
        for file in data.measured_files():
            run.setdefault(os.path.realpath(file), set()).update(data.lines(file) or ())
    return run


def modules_not_run(run: dict[str, set[int]]) -> list[str]:
    """The product's modules of which nothing ran (no function, or for a module of definitions
    only not even its import), as dotted names."""
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        executed = run.get(os.path.realpath(path), set())
        functions = _function_lines(path.read_text(encoding="utf-8"))
        if not (executed & functions if functions else executed or path.stat().st_size == 0):
            missing.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return missing


def test_the_check_tells_a_module_that_ran_from_one_that_did_not():
    module = PACKAGE / "engine" / "flags.py"
    functions = sorted(_function_lines(module.read_text()))
    assert functions
    name = "parakeet_desktop.engine.flags"
    assert name in modules_not_run({})
    assert name in modules_not_run({str(module): {1}})  # imported, nothing called
    assert name not in modules_not_run({str(module): {functions[0]}})


def test_every_product_module_runs_in_the_fast_tier():
    try:
        import coverage
    except ImportError:
        pytest.skip("coverage.py is not installed (the test extra has it)")
    cov = coverage.Coverage.current()
    if cov is None or os.environ.get("PARAKEET_TESTS_TIER") != "fast":
        pytest.skip("measured over the whole fast tier only: tools/run-tests --fast")
    missing = modules_not_run(_lines_run(cov))
    assert not missing, ("nothing of these modules ran in the fast tier; give each a fast test "
                         "(docs/development.md): " + ", ".join(missing))
