"""The engine stays free of Qt and pynput, so it runs headless (DESIGN.md, STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import parakeet_desktop

FORBIDDEN = ("PySide6", "pynput")


def test_engine_never_imports_qt_or_pynput():
    engine = Path(parakeet_desktop.__file__).parent / "engine"
    offenders = []
    for source in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{source.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
