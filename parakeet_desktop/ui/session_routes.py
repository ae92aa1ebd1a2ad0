"""The hotkey and the typing keyboard the way this desktop allows (desktop/routes.py): pynput on
X11, the GlobalShortcuts and RemoteDesktop portals on Wayland. Portal answers come on their own
threads; they reach the GUI thread through this QObject's signals."""

from __future__ import annotations

import logging
import sys
import threading

from PySide6.QtCore import QObject, Signal

from .. import config
from ..desktop import entry
from ..desktop.hotkey import HotkeyError, HotkeyListener, parse_hotkey
from ..desktop.remote_desktop import PortalKeyboard
from ..desktop.routes import Desktop, KeyRoute, key_route, probe
from ..desktop.shortcuts import PortalShortcut, open_hotkey

logger = logging.getLogger(__name__)

TOKEN_FILE = "remote-desktop-token"  # in the data folder: the desktop's approval, kept


class SessionRoutes(QObject):
    pressed = Signal()
    released = Signal()
    # (title, message, is an error): something the user should know about the hotkey or typing.
    notice = Signal(str, str, bool)
    bound = Signal(str)  # the trigger the desktop bound the hotkey to, in its own words

    def __init__(self, desktop: Desktop | None = None) -> None:
        super().__init__()
        self.desktop = desktop or probe()
        logger.info("Session: %s", self.desktop)
        self.hotkey: HotkeyListener | PortalShortcut | None = None
        self.trigger: str | None = None
        self.portal_keyboard = (PortalKeyboard(config.data_dir() / TOKEN_FILE)
                                if self.desktop.session == "wayland" else None)
        self.bound.connect(self._bound)

    def start_hotkey(self, text: str) -> None:
        self.stop_hotkey()
        self.trigger = None
        if self.desktop.session == "wayland" and sys.platform.startswith("linux") and not entry.is_installed():
            try:  # the portal finds the app's name and icon through it
                entry.install()
            except OSError as exc:
                logger.warning("The menu entry could not be written: %s", exc)
        try:
            route = key_route(self.desktop, text)
            self.hotkey = open_hotkey(route, parse_hotkey(text), self.pressed.emit, self.released.emit,
                                      on_bound=self.bound.emit, on_lost=self._lost)
        except HotkeyError as exc:
            self.hotkey = None
            self.notice.emit("No global hotkey", str(exc), True)

    def stop_hotkey(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
            self.hotkey = None

    def keys_pressed(self) -> int | None:
        return self.hotkey.other_presses if self.hotkey is not None else None

    def prepare_typing(self, method: str) -> None:
        """Asks for the portal's keyboard now, off the GUI thread, so that its approval dialog
        comes at start and not in the middle of the first paste."""
        keyboard = self.portal_keyboard
        if method != "portal" or keyboard is None:
            return

        def ask() -> None:
            try:
                keyboard.open()
            except OSError as exc:
                self.notice.emit("Typing", f"Text cannot be typed through the desktop's portal: {exc}.", True)
        threading.Thread(target=ask, name="remote-desktop", daemon=True).start()

    def key_route_text(self, text: str) -> str:
        route = key_route(self.desktop, text)
        shown = f" (bound to {self.trigger})" if self.trigger else ""
        return f"{route.way.value}{shown}: {route.why}" + (f". {route.todo}" if route.todo else "")

    def _bound(self, trigger: str) -> None:
        self.trigger = trigger or None
        if self.desktop.session == "wayland" and isinstance(self.hotkey, PortalShortcut):
            self.notice.emit("Hotkey", f"Your desktop bound dictation to {trigger or 'a key of its choice'}: "
                             "hold it to talk, tap it for hands-free.", False)

    def _lost(self, message: str) -> None:
        self.notice.emit("No global hotkey", message, True)

    @property
    def portal_key(self) -> bool:
        return key_route(self.desktop, "").way is KeyRoute.PORTAL
