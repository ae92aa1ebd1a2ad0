"""What the app's tests share: the focused application at the other end of synthetic key
presses, a timer on the GUI thread, and stopping an app a test started."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication


class PastingKeyboard:
    """The focused application at the other end of synthetic key presses: Ctrl+V pastes the
    clipboard into its text, typing adds the characters."""

    def __init__(self) -> None:
        self.received = ""
        self.chords: list[tuple[str, ...]] = []

    def chord(self, *keys: str) -> None:
        self.chords.append(keys)
        if keys[-1] == "v":
            self.received += QGuiApplication.clipboard().text()

    def type(self, text: str) -> None:
        self.received += text


def close_app(app) -> None:
    """Stop a DesktopApp started by a test: the engine thread, the control socket, its window."""
    app.engine_thread.shutdown()
    app.keeper.close()
    app.control.close()
    app.status.hide()


def later(ms, fn):
    from PySide6.QtCore import QTimer

    QTimer.singleShot(ms, fn)


def drop_files(widget, paths) -> None:
    """*paths* dropped on *widget* from a file manager."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)
