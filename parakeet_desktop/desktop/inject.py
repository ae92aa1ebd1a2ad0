"""Putting dictated text into the focused window.

Methods: ``paste`` (the text goes on the clipboard, Ctrl+V is sent — Ctrl+Shift+V in terminals —
and the user's previous clipboard comes back once the paste has landed), ``type`` (synthetic key
presses, for apps that block pasting), and on Wayland the ``wtype`` or ``ydotool`` tools. ``auto``
picks per platform. The clipboard, the keyboard, the tool runner and the timer are injected, so
the Qt clipboard (which must be used on the GUI thread and keep serving the paste while the
target app asks for it) stays in ``ui/`` and tests can stand in for the OS edge.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..settings import Injection, PasteKeys
from .routes import Desktop, Session, session_type, typing_route

logger = logging.getLogger(__name__)

# The user's previous clipboard comes back once the target has read our text: the clipboard
# sees each read (the X11 SelectionRequest, the Wayland data source's send), and the previous
# contents return READ_GRACE_MS after the first (time for the target's reads of other formats;
# from the first, so that a program that keeps reading cannot hold the paste open). A target that
# reads nothing (no text field had the focus) gets RESTORE_CAP_MS. Where reads cannot be seen,
# RESTORE_AFTER_MS after the chord: a fixed wait, which a loaded machine can outlast.
READ_GRACE_MS = 300
RESTORE_CAP_MS = 10_000
RESTORE_AFTER_MS = 1000
POLL_MS = 20
# Keys by the names wtype and ydotool (Linux input event codes) know them.
_TOOL_KEYS = {"backspace": ("BackSpace", 14), "enter": ("Return", 28), "tab": ("Tab", 15)}
TERMINALS = ("terminal", "xterm", "konsole", "alacritty", "kitty", "tilix", "terminator", "urxvt",
             "wezterm", "foot", "st-256color", "xfce4-terminal", "gnome-terminal", "rxvt")


Saved = TypeVar("Saved")  # what a clipboard keeps of itself while a paste borrows it


class Clipboard(Protocol[Saved]):
    def text(self) -> str | None: ...
    def set_text(self, text: str) -> None: ...
    def save(self) -> Saved: ...  # everything on it, in every format (an image, rich text)
    def restore(self, saved: Saved) -> None: ...
    def discard(self, saved: Saved) -> None: ...  # not restored: the user copied since
    def offer(self, text: str) -> None: ...  # our text for a paste: reads of it are counted
    def reads(self) -> int | None: ...  # other programs' reads of the offered text (None: unseen)
    def holds(self, text: str) -> bool: ...  # still our text: nobody copied since
    def recover(self) -> bool: ...  # after a crash mid-paste, the clipboard kept aside put back


# Calls a function after a number of milliseconds, on the caller's thread (a Qt timer in the app).
Later = Callable[[int, Callable[[], None]], None]


class Keyboard(Protocol):
    def chord(self, *keys: str) -> None: ...   # e.g. chord("ctrl", "v")
    def type(self, text: str) -> None: ...  # may raise NotInLayout: the text is pasted instead


class NotInLayout(OSError):
    """The keyboard cannot type some character of the text (the desktop's layout may have no key
    for it and would drop it without a word): nothing was typed, and the text is pasted instead."""


@dataclass(frozen=True)
class Delivery:
    ok: bool
    method: Injection  # the way it went (CLIPBOARD: left on the clipboard)
    problem: str | None = None
    scratch: bool = False  # "scratch that" taking the last words back, not typing


class PynputKeyboard:
    """Synthetic key presses through pynput (X11, Windows, macOS)."""

    def __init__(self) -> None:
        from pynput import keyboard

        self._keys = keyboard
        self._controller = keyboard.Controller()

    def chord(self, *keys: str) -> None:
        resolved = [getattr(self._keys.Key, k, None) or self._keys.KeyCode.from_char(k) for k in keys]
        for key in resolved:
            self._controller.press(key)
        for key in reversed(resolved):
            self._controller.release(key)

    def type(self, text: str) -> None:
        self._controller.type(text)


def focused_window(run=subprocess.run) -> str | None:
    """The X11 id of the focused window (None when it cannot be told: no xdotool, Wayland)."""
    if shutil.which("xdotool") is None:
        return None
    for ask in ("getactivewindow", "getwindowfocus"):  # the second without a window manager
        try:
            done = run(["xdotool", ask], capture_output=True, text=True, timeout=1)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None


def window_exists(window: str, run=subprocess.run) -> bool:
    """Whether the X11 window *window* is still there (True when it cannot be told)."""
    try:
        done = run(["xdotool", "getwindowname", window], capture_output=True, text=True, timeout=1)
    except (OSError, subprocess.SubprocessError):
        return True
    return done.returncode == 0


def focused_sway_app(run=subprocess.run) -> str:
    """The app id (or X11 class) of the window sway has focused ('' when it cannot be told)."""
    if not os.environ.get("SWAYSOCK") or shutil.which("swaymsg") is None:
        return ""
    try:
        done = run(["swaymsg", "-t", "get_tree"], capture_output=True, text=True, timeout=1)
        stack = [json.loads(done.stdout)] if done.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return ""
    while stack:
        node = stack.pop()
        if node.get("focused"):
            return node.get("app_id") or (node.get("window_properties") or {}).get("class") or ""
        stack += node.get("nodes", []) + node.get("floating_nodes", [])
    return ""


def focused_window_class(run=subprocess.run) -> str:
    """The X11 class of the focused window ('' when it cannot be told)."""
    if shutil.which("xdotool") is None:
        return ""
    try:
        done = run(["xdotool", "getactivewindow", "getwindowclassname"], capture_output=True,
                   text=True, timeout=1)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def system_keyboard() -> PynputKeyboard | None:
    """Synthetic key presses through pynput; None where the session has none to give (no X
    server; Wayland without XWayland): then paste and typing are not possible, which is said."""
    try:
        return PynputKeyboard()
    except Exception as exc:
        logger.warning("Synthetic key presses are not available: %s", exc)
        return None


class Injector:
    """Delivers text with one method; tells what happened, never raises for an OS refusal."""

    def __init__(self, method: Injection | str, clipboard: Clipboard[Any], keyboard: Keyboard | None,
                 later: Later, *, platform: Session | str | None = None, desktop: Desktop | None = None,
                 portal_keyboard: Keyboard | None = None, paste_keys: PasteKeys | str = PasteKeys.AUTO,
                 run=subprocess.run, which=shutil.which, window_class: Callable[[], str] | None = None) -> None:
        """*desktop*: what was found about the session (routes.probe); without it, what
        *platform* and the tools *which* finds say. *portal_keyboard*: keys through the
        RemoteDesktop portal, for the "portal" method."""
        self.clipboard = clipboard
        self.portal_keyboard = portal_keyboard
        self.later = later
        self.platform = Session(platform) if platform else (desktop.session if desktop else session_type())
        self.run = run
        self.which = which
        self.paste_keys = PasteKeys(paste_keys)
        self.window_class = window_class or (lambda: focused_window_class(run) if self.platform is Session.X11
                                             else focused_sway_app(run))
        if desktop is None:
            desktop = Desktop(self.platform, os.environ.get("XDG_CURRENT_DESKTOP", "").lower(),
                              tools=frozenset(t for t in ("wtype", "ydotool") if which(t)))
        self.route = typing_route(desktop, method)
        self.method = Injection(self.route.way)
        self.chosen = Injection(method) is not Injection.AUTO  # the user's choice, not the desktop's limit
        # On Wayland keys reach other windows only through the portal's keyboard.
        wayland_keys = self.method is Injection.PORTAL or (self.method is Injection.TYPE
                                                           and self.platform is Session.WAYLAND
                                                   and portal_keyboard is not None)
        self.keyboard = portal_keyboard if wayland_keys else keyboard
        logger.info("Typing by %s: %s", self.method, self.route.why)
        self.target: str | None = None  # the window the words are meant for (X11), see aim()
        # Told when a paste was not taken: the target never read the clipboard.
        self.not_taken: Callable[[str], None] = lambda message: logger.warning("%s", message)

    def aim(self) -> None:
        """Remember the focused window as the one the next text is for (at the key release)."""
        self.target = focused_window(self.run) if self.platform is Session.X11 else None

    def _target_gone(self) -> bool:
        target, self.target = self.target, None
        return target is not None and focused_window(self.run) != target and not window_exists(target, self.run)

    def deliver(self, text: str) -> Delivery:
        if not text:
            return Delivery(True, self.method)
        if self._target_gone():  # typing now would land in whatever window took its place
            self._leave_on_clipboard(text)
            return Delivery(False, Injection.CLIPBOARD, "The window you were dictating into closed before the text "
                                                "could be typed; it is on the clipboard and in the history.")
        try:
            if self.method in (Injection.PASTE, Injection.PORTAL):
                return self._paste(text)
            if self.method is Injection.TYPE:
                if self.keyboard is None:
                    raise OSError("synthetic typing is not available on this desktop")
                try:
                    self.keyboard.type(text)
                except NotInLayout:
                    return self._paste(text)
                return Delivery(True, Injection.TYPE)
            if self.method in (Injection.WTYPE, Injection.YDOTOOL):
                return self._tool(text)
            self.clipboard.set_text(text)
            if self.chosen:  # as the settings ask: the person pastes it
                return Delivery(True, Injection.CLIPBOARD)
            return Delivery(False, Injection.CLIPBOARD, "This desktop does not let apps type into other windows; "
                                                        "the text is on the clipboard: paste it with Ctrl+V.")
        except Exception as exc:
            logger.warning("Injection by %s failed: %s", self.method, exc)
            self._leave_on_clipboard(text)
            return Delivery(False, self.method, f"The text could not be typed ({exc}); it is on the "
                                                "clipboard and in the history.")

    def press(self, key: str, times: int = 1) -> Delivery:
        """Press *key* ("backspace", "enter", "tab") *times* times in the focused window."""
        try:
            if self.method in (Injection.PASTE, Injection.TYPE, Injection.PORTAL):
                if self.keyboard is None:
                    raise OSError("synthetic key presses are not available on this desktop")
                for _ in range(times):
                    self.keyboard.chord(key)
            elif self.method in (Injection.WTYPE, Injection.YDOTOOL):
                tool = self.which(self.method)
                if tool is None:
                    raise OSError(f"{self.method} is not installed")
                name, code = _TOOL_KEYS[key]
                args = ([tool, "-k", "Shift_L"] + ["-k", name] * times if self.method is Injection.WTYPE
                        else [tool, "key"] + [f"{code}:1", f"{code}:0"] * times)
                done = self.run(args, capture_output=True, text=True, timeout=30)
                if done.returncode != 0:
                    raise OSError(f"{self.method} failed: {(done.stderr or '').strip()[:200]}")
            else:
                return Delivery(False, self.method, "This desktop does not let apps press keys in other "
                                                    f"windows; press {key.title()} yourself.")
        except Exception as exc:
            logger.warning("Pressing %s failed: %s", key, exc)
            return Delivery(False, self.method, f"{key.title()} could not be pressed ({exc}).")
        return Delivery(True, self.method)

    def current_window(self) -> str | None:
        """The focused window where it can be told (X11), else None."""
        return focused_window(self.run) if self.platform is Session.X11 else None

    def _paste(self, text: str) -> Delivery:
        if self.keyboard is None:
            raise OSError("synthetic key presses are not available on this desktop")
        previous = self.clipboard.save()
        self.clipboard.offer(text)
        if self.paste_keys is PasteKeys.AUTO:
            terminal = any(t in self.window_class().lower() for t in TERMINALS)
        else:
            terminal = self.paste_keys is PasteKeys.CTRL_SHIFT_V
        self.keyboard.chord("ctrl", "shift", "v") if terminal else self.keyboard.chord("ctrl", "v")
        self._restore_once_read(text, previous)
        return Delivery(True, self.method)

    def _restore_once_read(self, text: str, previous: object) -> None:
        started = time.monotonic()
        first_read: list[float] = []  # when the target was first seen reading

        def restore() -> None:
            # Only if the clipboard still holds our text: the user may have copied since.
            if self.clipboard.holds(text):
                self.clipboard.restore(previous)
            else:
                self.clipboard.discard(previous)

        def check() -> None:
            now = time.monotonic()
            reads = self.clipboard.reads()
            if reads is None:
                done = (now - started) * 1000 >= RESTORE_AFTER_MS
            else:
                if reads and not first_read:
                    first_read.append(now)
                done = bool(first_read) and (now - first_read[0]) * 1000 >= READ_GRACE_MS
                if not done and (now - started) * 1000 >= RESTORE_CAP_MS:
                    done = True
                    self.not_taken(f"The window did not take the pasted text within {RESTORE_CAP_MS // 1000} s; "
                                   "it is in the history (“Paste last” pastes it again).")
            if done:
                restore()
            else:
                self.later(POLL_MS, check)

        self.later(POLL_MS, check)

    def _tool(self, text: str) -> Delivery:
        tool = self.which(self.method)
        if tool is None:
            raise OSError(f"{self.method} is not installed")
        # wtype makes a new virtual keyboard each run, and a window that gets its keymap loses
        # the first key after it (seen with Qt under sway): a Shift tap goes first.
        args = [tool, "-k", "Shift_L", "--", text] if self.method is Injection.WTYPE else [tool, "type", "--", text]
        done = self.run(args, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise OSError(f"{self.method} failed: {(done.stderr or '').strip()[:200]}")
        return Delivery(True, self.method)

    def _leave_on_clipboard(self, text: str) -> None:
        try:
            self.clipboard.set_text(text)
        except Exception as exc:
            logger.warning("Could not put the text on the clipboard either: %s", exc)


class Spacer:
    """Joins consecutive utterances: a space between them unless the new one starts with
    punctuation, and an optional trailing space. An utterance more than *same_flow_seconds*
    after the last one starts fresh (a new thought, perhaps in another window)."""

    def __init__(self, trailing_space: bool, same_flow_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.trailing_space = trailing_space
        self.same_flow_seconds = same_flow_seconds
        self.clock = clock
        self._previous_ended_with_space = True
        self._last_at = -float("inf")

    def join(self, text: str) -> str:
        text = text.strip()
        if not text:
            return ""
        now = self.clock()
        if now - self._last_at > self.same_flow_seconds:
            self.reset()
        self._last_at = now
        lead = "" if self._previous_ended_with_space or text[0] in ",.;:!?)" else " "
        out = lead + text + (" " if self.trailing_space else "")
        self._previous_ended_with_space = out.endswith(" ")
        return out

    def state(self) -> tuple[bool, float]:
        return self._previous_ended_with_space, self._last_at

    def restore(self, state: tuple[bool, float]) -> None:
        """Back to *state*: the text joined since was taken back."""
        self._previous_ended_with_space, self._last_at = state

    def reset(self) -> None:
        """Focus moved or a while passed: the next utterance starts fresh."""
        self._previous_ended_with_space = True
