"""Where the app shows its state and menu: the system tray, or a small control window on
desktops without a tray (GNOME without its AppIndicator extension, a bare X server)."""

from __future__ import annotations

import html
import re
from collections import deque

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .app_state import AppState
from .icons import state_icon

# Wide enough for the longest state line and the hotkey hint on two lines: the window keeps one
# width whatever it says (messages wrap, never widen it).
WAYLAND_HEIGHT = 280
CONTROL_WIDTH = 420
# The control window shows this many of the latest messages.
MESSAGES_SHOWN = 3


class TrayStatus:
    """The state in a system tray icon with the app's menu (right click); a left click calls
    *on_click* (the app opens the history: the last words, to copy or read again)."""

    def __init__(self, menu: QMenu, on_click=None) -> None:
        self.icon = QSystemTrayIcon(state_icon(AppState.LOADING))
        self.icon.setContextMenu(menu)
        self.icon.setToolTip("Parakeet Desktop")
        self.menu = menu
        self._on_click = on_click
        self.last_message: tuple[str, str] | None = None  # the last notification's title and text
        self.icon.activated.connect(self._activated)
        self.icon.show()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick) \
                and self._on_click is not None:
            self._on_click()

    @property
    def visible(self) -> bool:
        return self.icon.isVisible()

    def set_state(self, state: AppState, detail: str = "") -> None:
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(f"Parakeet Desktop — {state.label}" + (f"\n{detail}" if detail else ""))

    def notify(self, title: str, message: str, error: bool = False) -> None:
        kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, message, kind, 8000)
        self.last_message = (title, message)

    @property
    def tooltip(self) -> str:
        return self.icon.toolTip()

    def hide(self) -> None:
        self.icon.hide()


class ControlWindow(QWidget):
    """A small always-available window with the same states and menu as the tray icon."""

    dictate = Signal()

    def __init__(self, menu: QMenu) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle("Parakeet Desktop")
        self.menu = menu
        self._state = QLabel()
        self._state.setFixedSize(32, 32)
        self._title = QLabel("<b>Parakeet Desktop</b>")
        self._detail = QLabel()
        self._detail.setWordWrap(True)
        # Messages (warnings, notices) have lines of their own: a state change does not hide them,
        # and a notice does not hide the warnings given at start.
        self._notice = QLabel()
        self._notice.setWordWrap(True)
        self._notice.hide()
        self._messages: deque[tuple[str, str, bool]] = deque(maxlen=MESSAGES_SHOWN)  # newest last
        self._button = QPushButton("Start dictation")
        self._button.clicked.connect(self.dictate)
        more = QToolButton()
        more.setText("Menu")
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        more.setMenu(menu)
        top = QHBoxLayout()
        top.addWidget(self._state)
        top.addWidget(self._title, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self._button, 1)
        buttons.addWidget(more)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self._detail)
        layout.addWidget(self._notice)
        layout.addLayout(buttons)
        self.setFixedWidth(CONTROL_WIDTH)
        # On Qt's wayland platform a compositor may keep the size a window was first shown at
        # (sway with a floating window): start with room for the messages to come.
        self._least_height = WAYLAND_HEIGHT if QGuiApplication.platformName() == "wayland" else 0
        self.set_state(AppState.LOADING)

    @property
    def visible(self) -> bool:
        return self.isVisible()

    def set_state(self, state: AppState, detail: str = "") -> None:
        self._state.setPixmap(state_icon(state).pixmap(32, 32))
        self._title.setText(f"<b>Parakeet Desktop</b> — {state.label}")
        if detail:
            self._detail.setText(breakable(detail))
            self._fit()
        self._button.setText("Stop dictation" if state is AppState.LISTENING else "Start dictation")
        self._button.setEnabled(state.can_dictate)

    @property
    def title(self) -> str:
        return self._title.text()

    @property
    def detail(self) -> str:
        """The state's detail line, as the user reads it."""
        return self._detail.text().replace("\u200b", "")

    @property
    def last_message(self) -> tuple[str, str] | None:
        """The newest message's title and text."""
        return self._messages[-1][:2] if self._messages else None

    @property
    def message(self) -> str:
        """The messages (warnings, notices) as the user reads them, the newest first."""
        return "\n".join(f"{title}: {text}" for title, text, _ in reversed(self._messages))

    @property
    def dictate_enabled(self) -> bool:
        return self._button.isEnabled()

    def notify(self, title: str, message: str, error: bool = False) -> None:
        self._messages.append((title, message, error))
        self._notice.setText("<br>".join(
            f"<span style='color:{'#8c1414' if bad else '#333333'}'><b>{html.escape(head)}:</b> "
            f"{html.escape(breakable(text))}</span>" for head, text, bad in reversed(self._messages)))
        self._notice.show()
        self._fit()
        self.raise_()

    def _fit(self) -> None:
        """The wrapped lines get the height they need. A Wayland compositor sizes windows itself
        (a configure may come with an older size), so the least height is said as well."""
        self.setMinimumHeight(self._least_height)
        self.adjustSize()
        self.setMinimumHeight(self.height())

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # Closing the window minimises it: the app quits from its menu.
        event.ignore()
        self.showMinimized()


def breakable(text: str) -> str:
    """*text* with a zero-width space after each path separator, so a long path wraps at a
    folder rather than in the middle of a name (a label breaks only at spaces, or anywhere)."""
    return re.sub(r"(?<=[/\\])(?=[^\s/\\])", "\u200b", text)
