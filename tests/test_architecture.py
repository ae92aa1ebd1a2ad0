"""Layering (docs/ARCHITECTURE.md): the engine is free of Qt and pynput, so it runs headless;
desktop/ (hotkey, injection, autostart) and the settings, history and control modules are free
of Qt, so only ui/ draws."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_graph() -> dict[str, set[str]]:
    """Which of the package's modules each module imports, at its top or inside a function."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(0, node.level - 1)):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found.update(c for c in candidates if c.startswith("parakeet_desktop") and c != name)
    return {name: {t for t in targets if t in graph} for name, targets in graph.items()}


def test_no_two_modules_import_each_other_even_through_others():
    graph = _package_graph()
    cycles = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module == start:
                cycles.append(start)
                break
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
    # Packages' __init__ modules are empty; a module importing its own package is no cycle.
    assert [c for c in cycles if not c.endswith(("engine", "ui", "desktop", "service"))] == []


def test_the_engine_imports_no_front_end_and_the_service_no_desktop():
    graph = _package_graph()
    engine = {m: t for m, t in graph.items() if m.startswith("parakeet_desktop.engine")}
    assert {m: t for m, t in engine.items()
            if any(x.startswith(("parakeet_desktop.ui", "parakeet_desktop.service", "parakeet_desktop.desktop",
                                 "parakeet_desktop.cli")) for x in t)} == {}
    service = {m: t for m, t in graph.items() if m.startswith("parakeet_desktop.service")}
    assert service, "the service package exists"
    assert {m: t for m, t in service.items()
            if any(x.startswith(("parakeet_desktop.ui", "parakeet_desktop.desktop", "parakeet_desktop.cli"))
                   for x in t)} == {}
    # Only the front ends that start it (the serve command, the tray, the cluster's replicas) know
    # the service; the cluster, like the service, knows no desktop and no command line.
    users = sorted(m for m, t in graph.items() if not m.startswith("parakeet_desktop.service")
                   and any(x.startswith("parakeet_desktop.service") for x in t))
    assert {u for u in users if not u.startswith(("parakeet_desktop.cli.", "parakeet_desktop.cluster."))} <= {
        "parakeet_desktop.ui.app", "parakeet_desktop.ui.local_api"}
    cluster = {m: t for m, t in graph.items() if m.startswith("parakeet_desktop.cluster")}
    assert cluster and {m: t for m, t in cluster.items()
                        if any(x.startswith(("parakeet_desktop.ui", "parakeet_desktop.desktop", "parakeet_desktop.cli"))
                               for x in t)} == {}


def test_only_the_command_line_knows_the_command_line():
    """cli/ holds the terminal helpers (notes on stderr, exit codes): nothing else imports it, so
    the service and the app never print to a terminal."""
    graph = _package_graph()
    outside = {m: sorted(t for t in targets if t.startswith("parakeet_desktop.cli"))
               for m, targets in graph.items()
               if not m.startswith("parakeet_desktop.cli") and m != "parakeet_desktop.__main__"}
    assert {m: t for m, t in outside.items() if t} == {}


def test_every_engine_event_is_in_the_one_union():
    """What the engine emits is declared in engine/live/events.py and listed in its Event union (the
    consumers' match statements are checked against it by mypy): no event class elsewhere."""
    import dataclasses
    import typing

    from parakeet_desktop.engine.live import events

    declared = {obj for obj in vars(events).values()
                if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == events.__name__}
    assert declared == set(typing.get_args(events.Event))
    emitted, emitted_elsewhere = 0, []
    for path in (PACKAGE / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Call)):
                continue
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee in ("emit", "listener"):  # emit(Event(...)), stream.listener(Event(...))
                made = node.args[0].func
                name = made.id if isinstance(made, ast.Name) else getattr(made, "attr", "")
                emitted += 1
                if not isinstance(getattr(events, name, None), type):
                    emitted_elsewhere.append(f"{path.name}: {name}")
    assert emitted >= 10 and emitted_elsewhere == []


def test_the_type_checker_finds_nothing_in_the_engine_and_the_service():
    """mypy on engine/ and service/ (pyproject.toml): a new engine event that a consumer's match
    does not handle, or an inbox command the engine does not, fails here. Incremental: with the
    cache a run before left (.mypy_cache) it takes seconds, not a minute."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=PACKAGE.parent,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_linter_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=PACKAGE.parent,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_app_starts_without_the_linux_only_dbus_library():
    """jeepney is a dependency on Linux only (the portals): the app, the command line and text
    delivery import without it, as on Windows."""
    script = ("import sys; sys.modules['jeepney'] = None\n"
              "import parakeet_desktop.ui.app, parakeet_desktop.cli.doctor, parakeet_desktop.desktop.delivery\n"
              "from parakeet_desktop.ui.session_routes import SessionRoutes\n"
              "from parakeet_desktop.desktop.routes import Desktop\n"
              "SessionRoutes(Desktop('windows', ''))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PACKAGE.parent, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
