"""Starting the desktop app: a graphical session is needed, settings are read (with every
warning kept for the user), a running instance is handed the request instead of a second app
starting, and the Qt application runs the app."""

from __future__ import annotations

import logging
import os
import sys
import time

from PySide6.QtWidgets import QApplication

from .. import config, control
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
    settings, warnings = config.load()
    if (problem := config.unwritable()) is not None:
        warnings.append(problem)
    if model:
        settings.model = model
    if device:
        settings.device = device
    if _hand_over(attempts=1):
        print("Parakeet Desktop is already running.", file=sys.stderr)
        return 0
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Parakeet Desktop")
    app.setQuitOnLastWindowClosed(False)
    desktop = DesktopApp(settings, warnings, use_tray=tray, started_at=started_at, choose_model=not model)
    try:
        desktop.start()
    except AlreadyRunning:  # another one started in the same instant; it may not be listening yet
        _hand_over(attempts=40)
        print("Parakeet Desktop is already running.", file=sys.stderr)
        return 0
    code = app.exec()
    # Everything the user made is saved by now; the interpreter's own teardown (torch, NeMo and
    # their threads) would take seconds more, so the process ends here.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _hand_over(attempts: int) -> bool:
    """Ask a running app to show itself; whether one answered (a quarter second between tries)."""
    for attempt in range(attempts):
        try:
            control.send(control.Request.SHOW, timeout=1.0)
        except control.NotRunning:
            if attempt + 1 < attempts:
                time.sleep(0.25)
            continue
        return True
    return False
