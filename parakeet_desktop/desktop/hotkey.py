"""The global dictation hotkey: parsing, the hold/tap gesture, and a pynput listener.

Hold the hotkey to talk (push-to-talk); tap it to toggle hands-free listening. The pynput
listener runs on pynput's own thread and only calls the callbacks it was given, which in the app
emit a Qt signal and nothing more.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..messages import first_line

logger = logging.getLogger(__name__)

MODIFIERS = ("ctrl", "alt", "shift", "super")
_ALIASES = {"control": "ctrl", "cmd": "super", "win": "super", "meta": "super", "option": "alt",
            "altgr": "alt", "return": "enter", "esc": "escape", "spacebar": "space"}
# A press shorter than this is a tap (toggle hands-free), longer is push-to-talk.
TAP_SECONDS = 0.3
# A release is final when no press of the key follows within this gap (X11 auto-repeat sends
# release-press pairs a few milliseconds apart while a key is held).
REPEAT_GAP_SECONDS = 0.05


class HotkeyError(Exception):
    """A hotkey that cannot be used; the message says why and what to do instead."""


@dataclass(frozen=True)
class Hotkey:
    modifiers: frozenset[str]
    key: str | None  # None: a modifier-only chord such as ctrl+shift

    def __str__(self) -> str:
        parts = [m for m in MODIFIERS if m in self.modifiers]
        return "+".join(parts + ([self.key] if self.key else []))


def parse_hotkey(text: str) -> Hotkey:
    """``ctrl+alt+space``, ``f9``, ``ctrl+shift`` (modifiers only), ``super+h``..."""
    parts = [_ALIASES.get(p.strip().lower(), p.strip().lower()) for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise HotkeyError(f"“{text}” is not a key combination; write it like ctrl+alt+space or F9.")
    modifiers = frozenset(p for p in parts if p in MODIFIERS)
    keys = [p for p in parts if p not in MODIFIERS]
    if len(keys) > 1:
        raise HotkeyError(f"“{text}” has more than one ordinary key; use modifiers plus one key.")
    if not keys and len(modifiers) < 2:
        raise HotkeyError(f"“{text}” alone would fire while typing; combine two modifiers "
                          "(like ctrl+shift) or add a key.")
    key = keys[0] if keys else None
    if key is not None and len(key) > 1 and not _is_named_key(key):
        raise HotkeyError(f"“{key}” is not a key name this app knows (try space, f9, or a letter).")
    if sys.platform.startswith("linux") and {"ctrl", "alt"} <= modifiers and key in _SYSTEM_KEYS:
        raise HotkeyError(f"“{text}” is the system's own on Linux (Ctrl+Alt+F1 to F12 switch to another "
                          "console, Ctrl+Alt+Delete restarts), before any app hears it; choose another.")
    return Hotkey(modifiers, key)


# Keys that, with Ctrl+Alt, the system takes on Linux (the X server's and the kernel's console
# switch, as Xvfb shows too: its Ctrl+Alt+F8 never reaches an app).
_SYSTEM_KEYS = frozenset({f"f{n}" for n in range(1, 13)} | {"delete"})


def _is_named_key(name: str) -> bool:
    named = {"space", "enter", "tab", "escape", "backspace", "insert", "delete", "home", "end",
             "page_up", "page_down", "up", "down", "left", "right", "pause", "scroll_lock",
             "caps_lock", "menu", "print_screen"}
    return name in named or (name.startswith("f") and name[1:].isdigit() and 1 <= int(name[1:]) <= 24)


class GestureAction(enum.Enum):
    START_PUSH_TO_TALK = "start-ptt"
    STOP = "stop"
    KEEP_HANDS_FREE = "keep-hands-free"  # a tap: what started as push-to-talk goes on hands-free


class Gesture:
    """Turns hotkey presses and releases into dictation actions (pure; times in seconds)."""

    def __init__(self, tap_seconds: float = TAP_SECONDS) -> None:
        self.tap_seconds = tap_seconds
        self._pressed_at: float | None = None
        self._hands_free = False

    def press(self, now: float) -> GestureAction | None:
        if self._pressed_at is not None:
            return None  # key repeat
        self._pressed_at = now
        if self._hands_free:
            return None  # the tap that ends hands-free acts on release
        return GestureAction.START_PUSH_TO_TALK

    def release(self, now: float) -> GestureAction | None:
        if self._pressed_at is None:
            return None
        held = now - self._pressed_at
        self._pressed_at = None
        if self._hands_free:
            self._hands_free = False
            return GestureAction.STOP
        if held < self.tap_seconds:
            self._hands_free = True
            return GestureAction.KEEP_HANDS_FREE
        return GestureAction.STOP

    def reset(self) -> None:
        """Dictation was stopped some other way (menu, control command)."""
        self._pressed_at = None
        self._hands_free = False


LISTENER_START_SECONDS = 20  # pynput's listener, from its start to listening


def _x_records_keys() -> None:
    """HotkeyError unless the X server has the RECORD extension, through which pynput hears keys
    (an X server may be built or started without it)."""
    from Xlib import display

    try:
        server = display.Display()
    except Exception as exc:
        raise HotkeyError(f"Cannot reach the X server for the hotkey ({first_line(exc)}). {_TOGGLE_HELP}") from exc
    try:
        recording = server.has_extension("RECORD")
    finally:
        server.close()
    if not recording:
        raise HotkeyError("This X server cannot report key presses to apps (it has no RECORD extension), "
                          f"so the global hotkey cannot be heard. {_TOGGLE_HELP}")


def _ready_within(listener, seconds: float) -> bool:
    """Whether pynput's *listener* is listening within *seconds*. Its own wait() has no limit and
    never returns when the listener's thread fails before it is ready (an X error, a refused
    connection): it is waited for on a daemon thread of its own."""
    waiter = threading.Thread(target=listener.wait, name="hotkey-listener-start", daemon=True)
    waiter.start()
    deadline = time.monotonic() + seconds
    while waiter.is_alive() and listener.is_alive() and time.monotonic() < deadline:
        waiter.join(0.05)
    return not waiter.is_alive() and listener.is_alive()


class HotkeyListener:
    """A pynput global listener calling *on_press* / *on_release* when the chord goes down / up.

    Raises HotkeyError where global keys cannot be heard (no X server, Wayland): the user binds
    ``parakeet-desktop toggle`` in the desktop's own shortcut settings instead.
    """

    def __init__(self, hotkey: Hotkey, on_press: Callable[[], None], on_release: Callable[[], None]) -> None:
        self.hotkey = hotkey
        self._on_press = on_press
        self._on_release = on_release
        self._down: set[str] = set()
        self._wanted = set(hotkey.modifiers) | ({hotkey.key} if hotkey.key else set())
        self._active = False
        self._listener = None
        self._grab: X11KeyGrab | None = None
        self._lock = threading.Lock()
        self._pending_release: threading.Timer | None = None
        # Presses of keys outside the hotkey, ours included (synthetic keys are heard too): how
        # "scratch that" tells whether the user typed since the last dictated text.
        self.other_presses = 0

    def start(self) -> None:
        import os

        if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
            raise HotkeyError(_WAYLAND_HELP)
        try:
            from pynput import keyboard
        except Exception as exc:  # pynput raises ImportError with the X error inside
            raise HotkeyError(f"Global hotkeys are not available here ({first_line(exc)}). "
                              f"{_TOGGLE_HELP}") from exc
        if sys.platform.startswith("linux"):
            _x_records_keys()
            if self.hotkey.key is not None:
                self._grab = X11KeyGrab(self.hotkey)
                self._grab.start()
        self._keyboard = keyboard
        listener = keyboard.Listener(on_press=self._pressed, on_release=self._released)
        listener.start()
        if not _ready_within(listener, LISTENER_START_SECONDS):
            # Not stopped: pynput's stop() waits for the readiness that never came. Its thread
            # is a daemon, and ended or stuck in the X server's reply.
            self.stop()
            raise HotkeyError(f"The global hotkey listener could not start. {_TOGGLE_HELP}")
        self._listener = listener

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._grab is not None:
            self._grab.stop()
            self._grab = None
        if self._pending_release is not None:
            self._pending_release.cancel()

    def _name(self, key) -> str | None:
        keyboard = self._keyboard
        if isinstance(key, keyboard.KeyCode):
            if key.char:
                return key.char.lower()
            return None
        name = key.name  # e.g. ctrl_l, alt_r, space, f9, cmd
        for modifier, prefixes in (("ctrl", ("ctrl",)), ("alt", ("alt",)), ("shift", ("shift",)),
                                   ("super", ("cmd", "super"))):
            if name.startswith(prefixes):
                return modifier
        return name

    def _pressed(self, key) -> None:
        name = self._name(key)
        if name is None:
            return
        with self._lock:
            if self._pending_release is not None:
                # A release followed at once by a press is the keyboard's auto-repeat while the
                # key is held (X11 sends both): the chord is still down.
                self._pending_release.cancel()
                self._pending_release = None
            if name not in self._wanted:
                self.other_presses += 1
            self._down.add(name)
            if not self._active and self._wanted <= self._down:
                self._active = True
                self._on_press()

    def _released(self, key) -> None:
        name = self._name(key)
        with self._lock:
            self._down.discard(name)
            if self._active and name in self._wanted and self._pending_release is None:
                self._pending_release = threading.Timer(REPEAT_GAP_SECONDS, self._release_now)
                self._pending_release.daemon = True
                self._pending_release.start()

    def _release_now(self) -> None:
        with self._lock:
            if self._pending_release is None:
                return
            self._pending_release = None
            self._active = False
        self._on_release()


class X11KeyGrab:
    """Grabs the hotkey on the X server, so the focused app does not also get it (a space typed,
    a shortcut of its own fired). The grab's connection is only read to keep it drained; the
    pynput listener, which records all key events, still reports the presses."""

    def __init__(self, hotkey: Hotkey) -> None:
        self.hotkey = hotkey
        self._display: Any = None  # Xlib's Display (untyped)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from Xlib import XK, X, display, error

        try:
            self._display = display.Display()
        except Exception as exc:
            raise HotkeyError(f"Cannot reach the X server to claim the hotkey ({first_line(exc)}). "
                              f"{_TOGGLE_HELP}") from exc
        key = self.hotkey.key
        if key is None:  # a modifier-only chord: nothing to grab, the listener hears it
            return
        keysym = XK.string_to_keysym(key.upper() if key.startswith("f") and key[1:].isdigit() else key)
        keycode = self._display.keysym_to_keycode(keysym) if keysym else 0
        if not keycode:
            raise HotkeyError(f"This keyboard has no key “{key}”; choose another hotkey.")
        masks = {"ctrl": X.ControlMask, "alt": X.Mod1Mask, "shift": X.ShiftMask, "super": X.Mod4Mask}
        modifiers = 0
        for name in self.hotkey.modifiers:
            modifiers |= masks[name]
        catcher = error.CatchError(error.BadAccess)
        root = self._display.screen().root
        # The same chord with Caps Lock and Num Lock on counts too.
        for extra in (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask):
            root.grab_key(keycode, modifiers | extra, True, X.GrabModeAsync, X.GrabModeAsync,
                          onerror=catcher)
        self._display.sync()
        if catcher.get_error():
            self._display.close()
            self._display = None
            raise HotkeyError(f"{self.hotkey} is already taken by another program; choose another "
                              "hotkey in the settings.")
        self._thread = threading.Thread(target=self._drain, name="hotkey-grab", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        display = self._display
        try:
            while display is self._display:
                display.next_event()
        except Exception:  # the connection closed on stop()
            pass

    def stop(self) -> None:
        display, self._display = self._display, None
        if display is not None:
            try:
                display.close()
            except Exception as exc:
                logger.debug("Closing the hotkey grab: %s", exc)


_TOGGLE_HELP = ("Bind the command “parakeet-desktop toggle” to a key in your desktop's keyboard "
                "shortcut settings instead.")
_WAYLAND_HELP = ("This Wayland desktop does not let apps listen for a global hotkey. " + _TOGGLE_HELP)
