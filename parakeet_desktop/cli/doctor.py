"""``parakeet-desktop doctor``: what this machine offers the app, for users and bug reports."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _gpu() -> dict:
    try:
        import torch
    except Exception as exc:  # a broken torch install is exactly what doctor must report
        return {"torch": f"cannot be imported ({exc})"}
    from ..engine.model import plan_device, probe_cuda

    status = probe_cuda()
    info = {"torch": torch.__version__, "torch CUDA build": torch.version.cuda or "none (CPU-only build)"}
    if status.usable:
        major, minor = status.capability
        info["GPU"] = (f"{status.name}, {status.total_memory / 2**30:.1f} GiB VRAM, "
                       f"compute capability {major}.{minor}")
    else:
        info["GPU"] = f"not usable: {status.reason}"
    plan = plan_device("auto", status)
    info["recognition runs on"] = f"{plan.device.upper()} in {plan.dtype}: {plan.why}"
    return info


def _models() -> dict:
    from ..engine.model import REGISTRY, cached_model_file

    info = {}
    for model in REGISTRY:
        try:
            path = cached_model_file(model.id)
        except Exception as exc:
            info[model.id] = f"cache cannot be read ({exc})"
            continue
        info[model.id] = f"downloaded ({path})" if path else "not downloaded"
    return info


def _app() -> dict:
    """The configured model and where the app keeps its settings, history and kept audio."""
    from ..settings import data_dir, load_settings, settings_path

    settings, warnings = load_settings()
    model = settings.model
    if model.endswith(".nemo") or "/" not in model:
        model += "" if Path(model).expanduser().exists() else " (this file is missing)"
    history = data_dir() / "history.sqlite3"
    return {"configured model": model, "device setting": settings.device,
            "settings": f"{settings_path()}" + ("" if settings_path().exists() else " (not saved yet)"),
            "data folder": str(data_dir()),
            "history": f"{history}" + ("" if history.exists() else " (none yet)"),
            "kept audio": f"{data_dir() / 'audio'} ({settings.keep_audio}, at most {settings.keep_audio_mb} MB)",
            **({"settings warnings": warnings} if warnings else {})}


def _running() -> dict:
    """What the running app says of itself (``parakeet-desktop status``): its state, model and
    the engine's last notices."""
    from ..control import NotRunning, Request, send

    try:
        answer = send(Request.STATUS, timeout=3.0)
    except NotRunning:
        return {"state": "not running"}
    try:
        status = json.loads(answer.removeprefix("ok").strip())
    except ValueError:
        return {"state": f"unexpected answer: {answer[:200]}"}
    # The hotkey and typing as they turned out (a portal's answer), not as this desktop promises.
    info = {key: status[key] for key in ("state", "mode", "model", "pid", "local_api", "hotkey", "typing")
            if status.get(key) is not None}
    info["notices"] = [f"{n['at']} {n['message']}" for n in status.get("notices", [])] or "none"
    return info


def _audio() -> dict:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        return {"PortAudio": f"not available ({exc})"}
    info = {"PortAudio": sounddevice.get_portaudio_version()[1]}
    try:
        devices = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
        default = sounddevice.default.device[0]
    except Exception as exc:
        return {**info, "input devices": f"cannot be listed ({exc})"}
    info["input devices"] = [
        f"{d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)"
        + (" [default]" if d["index"] == default else "")
        for d in devices
    ] or "none found: connect a microphone to dictate"
    return info


def _display() -> dict:
    if sys.platform == "win32":
        return {"display": "Windows desktop"}
    wayland = os.environ.get("WAYLAND_DISPLAY")
    x11 = os.environ.get("DISPLAY")
    session = os.environ.get("XDG_SESSION_TYPE", "")
    if wayland or session == "wayland":
        server = "Wayland" + (f" (XWayland on {x11})" if x11 else "")
    elif x11:
        server = f"X11 ({x11})"
    else:
        server = "none (no DISPLAY or WAYLAND_DISPLAY): only the command line works here"
    return {"display server": server, "desktop": os.environ.get("XDG_CURRENT_DESKTOP", "unknown")}


def _routes() -> dict:
    """How the hotkey is heard and the text typed here, and what to do where something is missing."""
    from ..desktop import entry
    from ..desktop.routes import Session, probe, report, sway_bindings
    from ..settings import load_settings

    settings, _warnings = load_settings()
    desktop = probe()
    if desktop.session is Session.X11 and not os.environ.get("DISPLAY"):
        desktop = dataclasses.replace(desktop, session=Session.NONE)  # only the command line works here
    info: dict = {}
    todo = []
    for label, text in report(desktop, settings.hotkey, settings.injection.value):
        if label == "to do":
            todo.append(text)
        else:
            info[label] = text
    if desktop.session is Session.WAYLAND:
        info["menu entry"] = (str(entry.entry_path()) if desktop.entry_installed
                              else "not installed: run “parakeet-desktop desktop-entry”")
        if desktop.wlroots:
            info["push-to-talk lines for the sway config"] = sway_bindings(settings.hotkey)
    clipboard = [t for t in ("wl-copy", "xclip", "xsel") if shutil.which(t)]
    info["clipboard tools"] = clipboard or "none found (Qt's clipboard is used)"
    if todo:
        info["to do"] = todo
    return info


def collect() -> dict:
    return {
        "Parakeet Desktop": {"version": _version("parakeet-desktop"),
                             "Python": f"{platform.python_version()} ({sys.executable})",
                             "system": platform.platform()},
        "GPU": _gpu(),
        "NeMo": {"nemo_toolkit": _version("nemo_toolkit")},
        "app": _app(),
        "running app": _running(),
        "models": _models(),
        "audio": _audio(),
        "desktop": {**_display(), **_routes()},
    }


def run_doctor(as_json: bool = False) -> int:
    report = collect()
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    for section, items in report.items():
        print(section)
        for key, value in items.items():
            if isinstance(value, list):
                print(f"  {key}:")
                for entry in value:
                    print(f"    - {entry}")
            else:
                print(f"  {key}: {value}")
    return 0
