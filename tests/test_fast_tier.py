"""The fast tier (``tools/run-tests --fast``) runs every module of the product: a change to any
of them is tried by the five-minute loop, not only by the thirty-minute one.

"Runs" means more than imported: some function or method of the module ran (a module of
definitions only, such as an enum's, counts once imported). Measured by coverage.py over the
fast tier's run, every process of it included (pyproject.toml's ``[tool.coverage.run]``):
tools/run-tests, as CI runs it, measures the fast tier, then runs this check on what it saved.
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


def _lines_run(data_file: Path) -> dict[str, set[int]]:
    """The lines run, by file, in every process that saved a data file next to *data_file*."""
    from coverage import CoverageData

    run: dict[str, set[int]] = {}
    for path in data_file.parent.glob(data_file.name + "*"):
        data = CoverageData(basename=str(path))
        data.read()
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
    module = PACKAGE / "engine" / "recognize" / "flags.py"
    functions = sorted(_function_lines(module.read_text()))
    assert functions
    name = "parakeet_desktop.engine.recognize.flags"
    assert name in modules_not_run({})
    assert name in modules_not_run({str(module): {1}})  # imported, nothing called
    assert name not in modules_not_run({str(module): {functions[0]}})


def test_every_product_module_runs_in_the_fast_tier():
    """Run by tools/run-tests (CI's run) after the fast tier, on what it measured."""
    try:
        import coverage
    except ImportError:
        pytest.skip("coverage.py is not installed (the test extra has it)")
    data_file = ROOT / coverage.Coverage(config_file=str(ROOT / "pyproject.toml")).config.data_file
    if os.environ.get("PARAKEET_TESTS_TIER") != "fast" or not list(data_file.parent.glob(data_file.name + "*")):
        pytest.skip("checks a measured run of the whole fast tier: tools/run-tests runs it after one")
    missing = modules_not_run(_lines_run(data_file))
    assert not missing, ("nothing of these modules ran in the fast tier; give each a fast test "
                         "(docs/development.md): " + ", ".join(missing))
