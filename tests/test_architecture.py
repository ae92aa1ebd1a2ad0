"""Layering (DESIGN.md, STYLE.md): the engine is free of Qt and pynput, so it runs headless;
desktop/ (hotkey, injection, autostart) and the settings, history and control modules are free
of Qt, so only ui/ draws."""

from __future__ import annotations

import ast
from pathlib import Path

import parakeet_desktop

PACKAGE = Path(parakeet_desktop.__file__).parent


def _imports(sources) -> list[tuple[str, str]]:
    found = []
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(source.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((source.name, node.module))
    return found


def test_engine_never_imports_qt_or_pynput():
    offenders = [f"{s}: {m}" for s, m in _imports((PACKAGE / "engine").rglob("*.py"))
                 if m.split(".")[0] in ("PySide6", "pynput")]
    assert offenders == []


def test_only_the_ui_imports_qt():
    outside_ui = [p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts]
    offenders = [f"{s}: {m}" for s, m in _imports(outside_ui) if m.split(".")[0] == "PySide6"]
    assert offenders == []
