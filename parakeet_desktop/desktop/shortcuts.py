"""Hold-to-talk on Wayland: the dictation shortcut through the GlobalShortcuts portal.

The desktop owns the key: the app asks for a shortcut with a preferred trigger, the user approves
it once in the desktop's own dialog (the desktop remembers the app's shortcuts by its app id), and
the portal then sends ``Activated`` when the key goes down and ``Deactivated`` when it comes up,
which is exactly push-to-talk. The desktop may bind another key than the one asked for: the one
it reports is what the app shows.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable

from jeepney import MatchRule

from .hotkey import Hotkey
from .portal import (
    ASK_AGAIN,
    GLOBAL_SHORTCUTS,
    PortalConnection,
    PortalDenied,
    PortalError,
    PortalUnanswered,
    session_token,
)

logger = logging.getLogger(__name__)

SHORTCUT_ID = "dictate"
DESCRIPTION = "Dictate (hold to talk, tap for hands-free)"
# Our key names → the names of the XDG shortcut format (keysym names, modifiers in capitals).
_TRIGGER_MODIFIERS = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "super": "LOGO"}
_TRIGGER_KEYS = {"enter": "Return", "escape": "Escape", "backspace": "BackSpace", "tab": "Tab",
                 "insert": "Insert", "delete": "Delete", "home": "Home", "end": "End", "page_up": "Page_Up",
                 "page_down": "Page_Down", "up": "Up", "down": "Down", "left": "Left", "right": "Right",
                 "pause": "Pause", "scroll_lock": "Scroll_Lock", "caps_lock": "Caps_Lock", "menu": "Menu",
                 "print_screen": "Print", "space": "space"}


def preferred_trigger(hotkey: Hotkey) -> str | None:
    """The hotkey in the portal's trigger format (``CTRL+ALT+space``, ``LOGO+F9``); None for a
    chord of modifiers alone, which that format cannot say."""
    if hotkey.key is None:
        return None
    key = hotkey.key
    if key.startswith("f") and key[1:].isdigit():
        key = key.upper()
    key = _TRIGGER_KEYS.get(key, key)
    mods = [_TRIGGER_MODIFIERS[m] for m in ("ctrl", "alt", "shift", "super") if m in hotkey.modifiers]
    return "+".join(mods + [key])


def same_trigger(hotkey: Hotkey, described: str) -> bool:
    """Whether the desktop's words for a key (``Ctrl+Alt+Space``, ``Meta+F9``, ``<Control>space``)
    name *hotkey*."""
    words = described.replace("<", "+").replace(">", "+").lower().split("+")
    names = {"control": "ctrl", "meta": "super", "logo": "super", "win": "super", "return": "enter",
             "print": "print_screen", "page_up": "page_up", "prior": "page_up", "next": "page_down"}
    keys = {names.get(w.strip(), w.strip()) for w in words if w.strip()}
    return keys == set(hotkey.modifiers) | ({hotkey.key} if hotkey.key else set())


class NotBound(PortalError):
    """The desktop granted the shortcut but bound no key to it."""


NOT_BOUND = "The desktop has the dictation shortcut but no key for it. "


def _trigger(properties: dict | None) -> str:
    """The desktop's words for the shortcut's key, as people write keys ('' where it has none:
    KDE leaves them empty)."""
    return key_words(str((properties or {}).get("trigger_description", ("s", ""))[1]))


def key_words(described: str) -> str:
    """A desktop's description of a key in the words people use: GNOME's accelerator format
    ("Press <Control><Alt>space") → "Ctrl+Alt+Space"; KDE's ("Ctrl+Alt+Space") unchanged."""
    text = described.strip()
    if "<" not in text:
        return text
    text = text.removeprefix("Press ").strip()
    names = {"control": "Ctrl", "primary": "Ctrl", "alt": "Alt", "shift": "Shift", "super": "Super", "meta": "Meta"}
    modifiers = [names.get(m.lower(), m) for m in re.findall(r"<([^>]+)>", text)]
    key = re.sub(r"<[^>]+>", "", text).strip()
    key = {"space": "Space", "Return": "Enter"}.get(key, key[:1].upper() + key[1:])
    return "+".join(modifiers + ([key] if key else []))


def _bind_yourself() -> str:
    """Where the user gives the shortcut a key on this desktop."""
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").lower()
    if "kde" in desktop:
        where = "System Settings → Shortcuts (its entry is named after this app)"
    elif "gnome" in desktop:
        where = "Settings → Apps → Parakeet Desktop (its global shortcuts)"
    else:
        where = "the desktop's keyboard shortcut settings"
    return (f"Give it a key in {where}: dictation works as soon as it has one. Or bind “parakeet-desktop "
            "toggle” to a key there.")


class PortalShortcut:
    """The dictation shortcut bound through the portal. *on_press* / *on_release* come from the
    portal's signal thread; *on_bound(trigger)* once the desktop has bound it (its own words for
    the key, '' when it did not say); *on_lost(message)* when it stops working (declined, the
    portal went away, the session closed). start() returns at once: the approval may take the
    user a while, so it runs on a thread of its own."""

    def __init__(self, hotkey: Hotkey, on_press: Callable[[], None], on_release: Callable[[], None], *,
                 on_bound: Callable[[str], None], on_lost: Callable[[str], None], bus: str = "SESSION",
                 answer_seconds: float | None = None) -> None:
        self.hotkey = hotkey
        self._on_press, self._on_release = on_press, on_release
        self._on_bound, self._on_lost = on_bound, on_lost
        self._bus = bus
        self._answer_seconds = answer_seconds
        self.connection: PortalConnection | None = None
        self.session: str | None = None
        self.trigger: str | None = None  # what the desktop says the key is, once bound
        self.version: int | None = None
        self.other_presses: int | None = None  # the user's other keys cannot be heard here
        self.outcome = "waiting for the desktop"  # what happened, in a few words, for status and doctor
        self._down = False
        self._told = threading.Lock()  # the key bound is told once
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._bind, name="global-shortcut", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        connection, self.connection = self.connection, None
        if connection is not None:
            if self.session:
                connection.close_session(self.session)
            connection.close()
        if self._down:  # the key was down: dictation must not go on without it
            self._down = False
            self._on_release()

    def configure(self) -> bool:
        """Opens the desktop's settings for this app's shortcuts (portal version 2+). False where
        the desktop cannot."""
        if self.connection is None or self.session is None or (self.version or 0) < 2:
            return False
        try:
            self.connection.call(GLOBAL_SHORTCUTS, "ConfigureShortcuts", "osa{sv}", (self.session, "", {}))
        except Exception as exc:
            logger.warning("The desktop's shortcut settings could not be opened: %s", exc)
            return False
        return True

    def _bind(self) -> None:
        try:
            self._bind_now()
        except PortalDenied:
            self._lost(f"You declined the dictation shortcut in the desktop's dialog. To be asked again, "
                       f"{ASK_AGAIN}, or bind “parakeet-desktop toggle” to a key in the desktop's keyboard "
                       "settings.", "declined in the desktop's dialog")
        except PortalUnanswered as exc:
            # Saving the settings asks again only for a new hotkey: the menu asks for this one.
            self._lost(f"The dictation shortcut is not bound: {exc}. To be asked again, {ASK_AGAIN}.",
                       "no answer to the desktop's dialog")
        except NotBound as exc:
            # The session stays: a key given in the desktop's settings comes as ShortcutsChanged.
            self.outcome = "not bound: no key"
            self._on_lost(str(exc))
        except PortalError as exc:
            self._lost(f"The dictation shortcut could not be bound: {exc}.", f"not bound ({exc})")
        except Exception as exc:  # a malformed answer: say so rather than die silently on this thread
            logger.exception("Binding the global shortcut")
            self._lost(f"The dictation shortcut could not be bound ({exc}).", f"not bound ({exc})")

    def _bind_now(self) -> None:
        kwargs = {} if self._answer_seconds is None else {"answer_seconds": self._answer_seconds}
        connection = PortalConnection(self._bus, **kwargs)
        if self._stopped.is_set():
            connection.close()
            return
        self.connection = connection
        connection.register()
        self.version = connection.version(GLOBAL_SHORTCUTS)
        if self.version is None:
            raise PortalError("this desktop's portal has no GlobalShortcuts")
        connection.on_portal_gone(lambda: self._lost(
            "The desktop's portal stopped, so the dictation shortcut no longer works; it is bound "
            "again at the next start (or when you change the hotkey).", "lost: the portal stopped"))
        wanted: dict[str, tuple[str, object]] = {"description": ("s", DESCRIPTION)}
        trigger = preferred_trigger(self.hotkey)
        if trigger:
            wanted["preferred_trigger"] = ("s", trigger)
        asked = [(SHORTCUT_ID, wanted)]
        # KDE Plasma 5.27 binds only the shortcuts given here (its BindShortcuts binds nothing and
        # answers with an empty list); newer portals drop this option and bind in BindShortcuts.
        made = connection.request(GLOBAL_SHORTCUTS, "CreateSession", "a{sv}", (),
                                  {"session_handle_token": ("s", session_token("shortcuts")),
                                   "shortcuts": ("a(sa{sv})", asked)})
        self.session = str(made["session_handle"])
        for member, handle in (("Activated", self._activated), ("Deactivated", self._deactivated),
                               ("ShortcutsChanged", self._changed)):
            connection.listen(MatchRule(type="signal", interface=GLOBAL_SHORTCUTS, member=member), handle)
        connection.listen(MatchRule(type="signal", interface="org.freedesktop.portal.Session",
                                    member="Closed", path=self.session),
                          lambda _body: self._lost("The desktop closed the dictation shortcut's session.",
                                                   "lost: the desktop closed its session"))
        shortcuts = dict(made.get("shortcuts") or [])
        if SHORTCUT_ID not in shortcuts:
            try:
                bound = connection.request(GLOBAL_SHORTCUTS, "BindShortcuts", "oa(sa{sv})sa{sv}",
                                           (self.session, asked, ""))
            except (PortalDenied, PortalUnanswered):
                raise
            except PortalError as failed:
                # GNOME 48.0 answers 2 after binding (its backend leaves the answer unset):
                # what the desktop holds is the truth.
                bound = self._listed(connection) or {}
                if SHORTCUT_ID not in dict(bound.get("shortcuts") or []):
                    raise failed
                logger.info("The desktop bound the shortcut though it answered otherwise (%s)", failed)
            shortcuts = dict(bound.get("shortcuts") or [])
        if not _trigger(shortcuts.get(SHORTCUT_ID)):
            raise NotBound(NOT_BOUND + _bind_yourself())
        self._set_trigger(shortcuts[SHORTCUT_ID])

    def _listed(self, connection: PortalConnection) -> dict | None:
        try:
            return connection.request(GLOBAL_SHORTCUTS, "ListShortcuts", "oa{sv}", (self.session,))
        except PortalError as exc:
            logger.info("The desktop's shortcuts could not be listed: %s", exc)
            return None

    def _set_trigger(self, properties: dict) -> None:
        """The desktop bound the shortcut to a key: said once per key (GNOME tells it twice, in
        ShortcutsChanged and in its answer, on two threads)."""
        with self._told:
            trigger = _trigger(properties)
            if trigger == self.trigger:
                return
            self.trigger = trigger
            self.outcome = f"bound to {trigger}"
        if not self._stopped.is_set():
            self._on_bound(trigger)

    def _mine(self, body: tuple) -> bool:
        return not self._stopped.is_set() and str(body[0]) == self.session and body[1] == SHORTCUT_ID

    def _activated(self, body: tuple) -> None:
        if self._mine(body) and not self._down:
            self._down = True
            self._on_press()

    def _deactivated(self, body: tuple) -> None:
        if self._mine(body) and self._down:
            self._down = False
            self._on_release()

    def _changed(self, body: tuple) -> None:
        session, shortcuts = body
        mine = dict(shortcuts).get(SHORTCUT_ID)
        if str(session) != self.session or self._stopped.is_set() or mine is None:
            return
        if _trigger(mine):
            self._set_trigger(mine)
        else:  # the user took the key away in the desktop's settings
            self.trigger, self.outcome = None, "not bound: no key"
            self._on_lost(NOT_BOUND + _bind_yourself())

    def _lost(self, message: str, outcome: str) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.outcome = outcome
        if self._down:
            self._down = False
            self._on_release()
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()
        self._on_lost(message)

