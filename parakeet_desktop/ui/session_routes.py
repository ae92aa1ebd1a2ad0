"""The hotkey and the typing keyboard the way this desktop allows (desktop/routes.py): pynput on
X11, the GlobalShortcuts and RemoteDesktop portals on Wayland. Portal answers come on their own
threads; they reach the GUI thread through this QObject's signals."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ..desktop import entry, routes
from ..desktop.hotkey import HotkeyError, HotkeyListener, parse_hotkey
from ..desktop.routes import Desktop, KeyRoute, Session, key_route, open_hotkey, probe
from ..engine.live import Mode
from ..settings import Injection, data_dir
from .menu import hotkey_hint

if TYPE_CHECKING:  # jeepney (D-Bus) is there only where portals are: Linux
    from ..desktop.remote_desktop import PortalKeyboard
    from ..desktop.shortcuts import PortalShortcut

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
        self._asked: str | None = None  # the hotkey the user just chose in the settings
        self.portal_keyboard: PortalKeyboard | None = None
        if self.desktop.session is Session.WAYLAND:
            from ..desktop.remote_desktop import PortalKeyboard

            # GNOME (48, and its code since) never starts a keyboard-only session restored from a
            # kept approval: it waits for screen streams that were never asked for, so Start
            # gets no answer. There the user approves as the app starts, each run.
            self.portal_keyboard = PortalKeyboard(data_dir() / TOKEN_FILE,
                                                  remember="gnome" not in self.desktop.name)
        self.bound.connect(self._bound)

    def start_hotkey(self, text: str, *, changed: bool = False) -> None:
        """Hears *text* from now on; *changed*: the user chose it in the settings just now."""
        self.stop_hotkey()
        self.trigger = None
        self._asked = text if changed else None
        if self.desktop.session is Session.WAYLAND and sys.platform.startswith("linux") and not entry.is_installed():
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

    def prepare_typing(self, method: Injection) -> None:
        """Asks for the portal's keyboard now, off the GUI thread, so that its approval dialog
        comes at start and not in the middle of the first paste."""
        keyboard = self.portal_keyboard
        if method is not Injection.PORTAL or keyboard is None:
            return

        def ask() -> None:
            try:
                keyboard.open()
            except OSError as exc:
                self.notice.emit("Typing", f"Text cannot be typed through the desktop's portal: {exc}.", True)
        threading.Thread(target=ask, name="remote-desktop", daemon=True).start()

    def hint(self, hotkey: str, mode: Mode) -> str:
        """How to dictate here: with the key the desktop bound, or the desktop's own shortcut."""
        if key_route(self.desktop, hotkey).way is KeyRoute.COMMAND:
            return ("Dictate with the key you bound to “parakeet-desktop start” and “stop” (or “toggle”) in "
                    "your desktop's settings (parakeet-desktop doctor shows how); the words are typed where "
                    "your cursor is.")
        return hotkey_hint(self.trigger or hotkey, mode)

    def report(self, hotkey: str, typing: str) -> list[tuple[str, str]]:
        """What doctor says of this desktop (desktop/routes.report), with what the portals did."""
        happened = self.happened()
        return [(label, f"{text} ({happened[label]})" if label in happened else text)
                for label, text in routes.report(self.desktop, hotkey, typing)]

    def status(self, hotkey: str, typing: routes.Route) -> dict[str, str]:
        """The session and both routes (with what to do, and what the portals did) for ``status``."""
        key = key_route(self.desktop, hotkey)
        happened = self.happened()
        key_text = f"{key.way.value}: " + (happened["hotkey"] if "hotkey" in happened else
                                            key.why + (f". {key.todo}" if key.todo else ""))
        typing_text = f"{typing.way.value}: " + (f"{typing.why} ({happened['typing']})" if "typing" in happened
                                                 else typing.why)
        return {"session": self.desktop.session, "hotkey": key_text, "typing": typing_text}

    def happened(self) -> dict[str, str]:
        """What the desktop's portals answered so far: {"hotkey": …, "typing": …} where asked."""
        done = {}
        outcome = getattr(self.hotkey, "outcome", None)  # a PortalShortcut
        if outcome:
            done["hotkey"] = outcome
        typing = self.portal_keyboard.state() if self.portal_keyboard is not None else ""
        if typing:  # never asked where the text is typed another way (wtype)
            done["typing"] = typing
        return done

    def _bound(self, trigger: str) -> None:
        from ..desktop.shortcuts import PortalShortcut, same_trigger  # only a portal shortcut binds

        self.trigger = trigger or None
        shortcut = self.hotkey
        if not isinstance(shortcut, PortalShortcut):
            return
        asked = self._asked
        if asked and trigger and not same_trigger(parse_hotkey(asked), trigger):
            # The desktop keeps the key the user gave it before; its own settings change it.
            where = ("its shortcut settings are open to change it" if shortcut.configure()
                     else "change it in its keyboard shortcut settings")
            self.notice.emit("Hotkey", f"Your desktop keeps dictation on {trigger}: {where} to {asked}.", False)
            return
        self.notice.emit("Hotkey", f"Your desktop bound dictation to {trigger or 'a key of its choice'}: "
                         "hold it to talk, tap it for hands-free.", False)

    def _lost(self, message: str) -> None:
        self.notice.emit("No global hotkey", message, True)
