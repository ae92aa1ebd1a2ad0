"""The structure docs/ARCHITECTURE.md describes, checked: the layers and faces (import-linter's
contracts in pyproject.toml), no import cycles, one event union, module sizes, the engine's
rooms, and mypy and ruff over everything."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import parakeet_desktop

PACKAGE = Path(parakeet_desktop.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_graph() -> dict[str, set[str]]:
    """Which of the package's modules each module imports, at its top or inside a function (a
    name of an engine room's face counts as an import of the module it comes from, as it is
    when first used)."""
    faces = {_module_name(stub.with_suffix(".py")): _stub_names(stub) for stub in PACKAGE.rglob("__init__.pyi")}
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
            if isinstance(node, ast.ImportFrom) and target in faces:  # a name of a room: its own module
                candidates += [faces[target][alias.name] for alias in node.names if alias.name in faces[target]]
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
    assert cycles == []


def test_the_layers_and_the_faces_hold_as_the_contracts_say():
    """import-linter's contracts in pyproject.toml: the layers (cli over ui over the cluster and
    the RunPod worker, over the service and the desktop, over the history, over exports and the
    control socket, over the settings, over the engine), the engine and everything but ui/ free
    of Qt, and the engine's rooms, the settings and the control socket used by their faces."""
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    result = subprocess.run([sys.executable, "-c", command, "--no-cache"], cwd=PACKAGE.parent,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_is_longer_than_a_reader_takes_in_at_once():
    lengths = {str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
               for path in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in lengths.items() if n > 400} == {}


def test_the_engine_is_five_rooms_each_with_a_public_face():
    """At most eight entries at the engine's top; each room names its public names in a stub
    (``__init__.pyi``) whose every name is there when asked for."""
    import importlib

    entries = sorted(p.name for p in (PACKAGE / "engine").iterdir() if p.name != "__pycache__")
    assert len(entries) <= 8, entries
    rooms = [p for p in (PACKAGE / "engine").iterdir() if (p / "__init__.py").exists()]
    assert sorted(p.name for p in rooms) == ["audio", "live", "model", "recognize", "speakers"]
    for room in rooms:
        face = importlib.import_module(f"parakeet_desktop.engine.{room.name}")
        stubbed = _stub_names(room / "__init__.pyi")
        assert set(face.__all__) == set(stubbed), room.name
        missing = [name for name, module in stubbed.items()
                   if getattr(importlib.import_module(module), name, None) is not getattr(face, name)]
        assert missing == [], room.name


def _stub_names(stub: Path) -> dict[str, str]:
    """The names a room's stub re-exports, each with the module that defines it."""
    package = ".".join(stub.parent.relative_to(PACKAGE.parent).parts)
    return {alias.name: f"{package}.{node.module}" for node in ast.walk(ast.parse(stub.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) for alias in node.names}


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


def test_the_type_checker_finds_nothing_in_the_whole_package():
    """mypy over the whole package, bodies without annotations included (pyproject.toml lists
    what it leaves off and why): a new engine event that the app's or a command's match does not
    handle, or an inbox command the engine does not, fails here. Incremental: with the cache a
    run before left (.mypy_cache) it takes seconds, not a minute."""
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


def test_the_architecture_page_names_every_module_where_it_lives():
    """docs/ARCHITECTURE.md's tree, held against the code: each folder of the package is in it,
    and each module is named in its folder's part of the tree."""
    page = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tree = page[page.index("```text"):page.index("```", page.index("```text") + 3)].splitlines()
    missing = []
    for folder in sorted({p.parent for p in PACKAGE.rglob("*.py")}):
        lines = tree
        for part in folder.relative_to(PACKAGE.parent).parts[1:]:
            lines = _part_of(lines, f"{part}/")
        modules = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        text = " ".join(lines)
        missing += [f"{folder.name}/{m}.py" for m in modules if not re.search(rf"\b{m}(\.py)?\b", text)]
    assert missing == []


def _part_of(lines: list[str], entry: str) -> list[str]:
    """The lines of *entry* in a tree drawn by indentation: its own, and those indented deeper
    than it, until the next entry at its depth or above."""
    start = next(n for n, line in enumerate(lines) if line.strip().startswith(entry))
    depth = len(lines[start]) - len(lines[start].lstrip())
    end = next((n for n in range(start + 1, len(lines))
                if lines[n].strip() and len(lines[n]) - len(lines[n].lstrip()) <= depth), len(lines))
    return lines[start:end]
