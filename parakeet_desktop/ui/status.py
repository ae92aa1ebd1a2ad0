"""Where the app shows its state and menu: the system tray, or a small control window on
desktops without a tray (GNOME without its AppIndicator extension, a bare X server)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QMenu, QPushButton, QSystemTrayIcon, QToolButton, QVBoxLayout, QWidget,
)

from .icons import state_icon

TITLES = {
    "loading": "Loading the model…",
    "ready": "Ready",
    "listening": "Listening",
    "working": "Finishing the text…",
    "error": "Needs attention",
}


class TrayStatus:
    """The state in a system tray icon with the app's menu."""

    def __init__(self, menu: QMenu) -> None:
        self.icon = QSystemTrayIcon(state_icon("loading"))
        self.icon.setContextMenu(menu)
        self.icon.setToolTip("Parakeet Desktop")
        self.menu = menu
        self.icon.show()

    @property
    def visible(self) -> bool:
        return self.icon.isVisible()

    def set_state(self, state: str, detail: str = "") -> None:
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(f"Parakeet Desktop — {TITLES.get(state, state)}" + (f"\n{detail}" if detail else ""))

    def notify(self, title: str, message: str, error: bool = False) -> None:
        kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, message, kind, 8000)

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
        # Messages (warnings, notices) have a line of their own: a state change does not hide them.
        self._notice = QLabel()
        self._notice.setWordWrap(True)
        self._notice.hide()
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
        self.setMinimumWidth(320)
        self.set_state("loading")

    @property
    def visible(self) -> bool:
        return self.isVisible()

    def set_state(self, state: str, detail: str = "") -> None:
        self._state.setPixmap(state_icon(state).pixmap(32, 32))
        self._title.setText(f"<b>Parakeet Desktop</b> — {TITLES.get(state, state)}")
        if detail:
            self._detail.setText(detail)
            self.adjustSize()
        self._button.setText("Stop dictation" if state == "listening" else "Start dictation")
        self._button.setEnabled(state in ("ready", "listening"))

    def notify(self, title: str, message: str, error: bool = False) -> None:
        colour = "#8c1414" if error else "#333333"
        self._notice.setText(f"<span style='color:{colour}'><b>{title}:</b> {message}</span>")
        self._notice.show()
        self.adjustSize()  # the wrapped message gets the lines it needs
        self.raise_()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # Closing the window minimises it: the app quits from its menu.
        event.ignore()
        self.showMinimized()
