"""Starting the desktop app: a graphical session is needed, settings are read (with every
warning kept for the user), a running instance is handed the request instead of a second app
starting, and the Qt application runs the app."""

from __future__ import annotations

import logging
import os
import sys
import time

from PySide6.QtWidgets import QApplication

from ..control import NotRunning, Request, send
from ..desktop.entry import APP_ID
from ..settings import Device, load_settings, unwritable
from .app import DesktopApp
from .control_server import AlreadyRunning


def main(model: str | None = None, device: str | None = None, tray: bool | None = None) -> int:
    started_at = time.monotonic()
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        print("error: there is no graphical session (DISPLAY is not set), so the desktop app cannot "
              "start. From a terminal, use “parakeet-desktop listen” to dictate or "
              "“parakeet-desktop transcribe FILE” for files.", file=sys.stderr)
        return 1
    settings, warnings = load_settings()
    if (problem := unwritable()) is not None:
        warnings.append(problem)
    if model:
        settings.model = model
    if device:
        settings.device = Device(device)
    if _hand_over(attempts=1):
        print("Parakeet Desktop is already running.", file=sys.stderr)
        return 0
    _choose_platform()
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Parakeet Desktop")
    app.setDesktopFileName(APP_ID)  # the Wayland app id: the desktop matches it to the menu entry
    app.setQuitOnLastWindowClosed(False)
    desktop = DesktopApp(settings, warnings, use_tray=tray, started_at=started_at, choose_model=not model)
    try:
        desktop.start()
    except AlreadyRunning:  # another one started in the same instant; it may not be listening yet
        _hand_over(attempts=40)
        print("Parakeet Desktop is already running.", file=sys.stderr)
        return 0
    except OSError as exc:  # the control socket: without it neither commands nor one instance work
        print(f"error: Parakeet Desktop cannot start: {exc}.", file=sys.stderr)
        return 1
    code = app.exec()
    # Everything the user made is saved by now; the interpreter's own teardown (torch, NeMo and
    # their threads) would take seconds more, so the process ends here.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _choose_platform() -> None:
    """On Wayland with XWayland, Qt runs on X11 (unless the user chose otherwise): there the
    caption overlay is an override-redirect tooltip window that no compositor gives the focus to
    (a native Wayland window may take it, and the dictated text would land in the overlay) and
    that can be placed at the chosen edge (Wayland lets no app place its windows). The clipboard
    is the same: XWayland hands it to Wayland apps, and their reads still reach us."""
    if os.environ.get("WAYLAND_DISPLAY") and os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "xcb"


def _hand_over(attempts: int) -> bool:
    """Ask a running app to show itself; whether one answered (a quarter second between tries)."""
    for attempt in range(attempts):
        try:
            send(Request.SHOW, timeout=1.0)
        except NotRunning:
            if attempt + 1 < attempts:
                time.sleep(0.25)
            continue
        return True
    return False
