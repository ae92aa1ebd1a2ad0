"""The system clipboard through Qt, for text injection (GUI thread only)."""

from __future__ import annotations

import atexit

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication


class QtClipboard:
    """The system clipboard through Qt (GUI thread only)."""

    def text(self) -> str | None:
        return QGuiApplication.clipboard().text()

    def set_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)

    def save(self) -> QMimeData:
        current = QGuiApplication.clipboard().mimeData()
        saved = QMimeData()
        if current is None:
            return saved
        for fmt in current.formats():
            saved.setData(fmt, current.data(fmt))
        if current.hasImage():  # Qt keeps images as an object, not as bytes of a format
            saved.setImageData(current.imageData())
        return saved

    def restore(self, saved: QMimeData) -> None:
        QGuiApplication.clipboard().setMimeData(saved)
        global _clipboard_handback_registered
        if not _clipboard_handback_registered:
            atexit.register(_hand_back_clipboard)
            _clipboard_handback_registered = True


_clipboard_handback_registered = False


def _hand_back_clipboard() -> None:
    """PySide6 crashes at exit when the clipboard still holds mime data made in Python (it
    calls back into the finished interpreter); replace it with Qt-made text or image first."""
    app = QGuiApplication.instance()
    if app is None:
        return
    clipboard = QGuiApplication.clipboard()
    current = clipboard.mimeData()
    if current is not None and current.hasImage():
        clipboard.setImage(clipboard.image())
    else:
        clipboard.setText(clipboard.text())
