"""The app's menu (tray icon or control window): a status line that says what the app is doing
and how to dictate, then the actions, each enabled only where it can work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from ..engine.live import Mode
from .app_state import AppState

MODES = ((Mode.PUSH_TO_TALK, "Push-to-talk (hold the hotkey)"),
         (Mode.HANDS_FREE, "Hands-free (the hotkey starts and stops)"))


def key_name(hotkey: str) -> str:
    """"ctrl+alt+space" as people write it: "Ctrl+Alt+Space"."""
    return "+".join(part.upper() if len(part) == 1 else part.replace("_", " ").title() for part in hotkey.split("+"))


def hotkey_hint(hotkey: str, mode: Mode) -> str:
    """How to dictate, in the words the user sees (tooltip, menu, control window, notice)."""
    if mode is Mode.HANDS_FREE:
        return f"Press {key_name(hotkey)} to start dictating, and again to stop."
    return f"Hold {key_name(hotkey)}, speak, release: the words are typed where your cursor is."


@dataclass(frozen=True)
class MenuActions:
    """What the menu's entries do. *has_last()* says whether there is a last text, asked when
    the menu opens (not at every state change: it may read the history)."""

    toggle: Callable[[], None]
    set_mode: Callable[[Mode], None]
    show_files: Callable[[], None]
    show_settings: Callable[[], None]
    show_history: Callable[[], None]
    copy_last: Callable[[], None]
    paste_last: Callable[[], None]
    quit: Callable[[], None]
    has_last: Callable[[], bool]
    # Where the desktop's portals hear the hotkey or type (Wayland): asks them again, after a
    # refusal or an unanswered dialog. None: no such entry.
    ask_desktop: Callable[[], None] | None = None


class AppMenu:
    def __init__(self, app: MenuActions, mode: Mode) -> None:
        """*mode*: the one checked at first."""
        self.menu = menu = QMenu()
        self._has_last = app.has_last
        menu.aboutToShow.connect(self._opening)
        self.status = menu.addAction("Loading the model…")
        self.status.setEnabled(False)
        menu.addSeparator()
        self.toggle = menu.addAction("Start dictation", app.toggle)
        modes = menu.addMenu("Mode")
        group = QActionGroup(modes)
        self.modes: dict[Mode, QAction] = {}
        for value, label in MODES:
            action = QAction(label, modes, checkable=True, checked=mode == value)
            action.triggered.connect(lambda _checked, v=value: app.set_mode(v))
            group.addAction(action)
            modes.addAction(action)
            self.modes[value] = action
        menu.addSeparator()
        menu.addAction("Transcribe files…", app.show_files)
        menu.addAction("Settings…", app.show_settings)
        menu.addAction("History…", app.show_history)
        self.copy_last = menu.addAction("Copy last", app.copy_last)
        self.paste_last = menu.addAction("Paste last", app.paste_last)
        if app.ask_desktop is not None:
            menu.addAction("Ask the desktop again (hotkey, typing)", app.ask_desktop)
        menu.addSeparator()
        menu.addAction("Quit", app.quit)

    def show_state(self, state: AppState, line: str) -> None:
        self.status.setText(line)
        self.toggle.setText("Stop dictation" if state is AppState.LISTENING else "Start dictation")
        self.toggle.setEnabled(state.can_dictate)

    def _opening(self) -> None:
        has_last = self._has_last()
        self.copy_last.setEnabled(has_last)
        self.paste_last.setEnabled(has_last)

    def show_mode(self, mode: Mode) -> None:
        self.modes[mode].setChecked(True)
