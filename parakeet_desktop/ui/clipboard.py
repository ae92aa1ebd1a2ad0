"""The system clipboard through Qt, for text injection (GUI thread only).

Pasting puts our text on the clipboard for a moment and then puts the user's back. So that a
crash in that moment does not lose what the user had copied, its text forms are also written to a
file (readable by the user alone) until they are back; the next start restores them from it.
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path

from PySide6.QtCore import QMimeData, QTimer
from PySide6.QtGui import QGuiApplication

from ..desktop.clipboard_rescue import ClipboardRescue
from ..desktop.routes import ClipboardRoute, Desktop, clipboard_route
from ..desktop.wl_clipboard import WlClipboard
from ..settings import data_dir

logger = logging.getLogger(__name__)

RESCUE_FILE = "clipboard-during-paste.json"  # in the data folder


def app_clipboard(desktop: Desktop | None = None) -> QtClipboard | WlClipboard:
    """The clipboard the app pastes through on *desktop* (desktop/routes.clipboard_route; Qt's
    where none is given), its rescue file in the data folder."""
    if desktop is None:
        return QtClipboard(rescue=data_dir() / RESCUE_FILE)
    native = QGuiApplication.platformName() == "wayland"  # Qt's own then cannot serve unfocused
    if clipboard_route(desktop).way is ClipboardRoute.WL_COPY or native and "wl-copy" in desktop.tools:
        return WlClipboard(rescue=data_dir() / RESCUE_FILE)
    return QtClipboard(rescue=data_dir() / RESCUE_FILE)


def qt_later(ms: int, fn) -> None:
    """desktop.inject.Later on the GUI thread: a Qt single-shot timer."""
    QTimer.singleShot(ms, fn)


class _Offered(QMimeData):
    """Our text on the clipboard for a paste, counting other programs' reads: Qt asks for the data
    when another program requests it (the X11 SelectionRequest, the Wayland data source's send)."""

    def __init__(self, owner: QtClipboard) -> None:
        super().__init__()
        self.owner = owner

    def retrieveData(self, mimetype, preferred_type):  # noqa: N802 (Qt's name)
        if not self.owner.reading:
            self.owner.read_count += 1
        return super().retrieveData(mimetype, preferred_type)


class QtClipboard:
    """The system clipboard through Qt (GUI thread only); *rescue* is the file that holds the
    user's clipboard text while ours is on it."""

    def __init__(self, rescue: Path | None = None) -> None:
        self.rescue = ClipboardRescue(rescue)
        self.reading = False  # our own reads of the offered text are not the target's
        self.read_count = 0
        self._offered: _Offered | None = None  # kept alive while Qt serves it

    def text(self) -> str | None:
        self.reading = True
        try:
            return QGuiApplication.clipboard().text()
        finally:
            self.reading = False

    def set_text(self, text: str) -> None:
        self._offered = None
        QGuiApplication.clipboard().setText(text)

    def offer(self, text: str) -> None:
        offered = _Offered(self)
        offered.setText(text)
        self.read_count = 0
        self._offered = offered
        QGuiApplication.clipboard().setMimeData(offered)
        _register_handback()

    def reads(self) -> int | None:
        return self.read_count if self._offered is not None else None

    def holds(self, text: str) -> bool:
        """Whether the clipboard still has our text (nobody copied since)."""
        return self.text() == text

    def save(self) -> QMimeData:
        self.reading = True
        try:
            return self._save()
        finally:
            self.reading = False

    def _save(self) -> QMimeData:
        current = QGuiApplication.clipboard().mimeData()
        saved = QMimeData()
        if current is None:
            return saved
        for fmt in current.formats():
            saved.setData(fmt, current.data(fmt))
        if current.hasImage():  # Qt keeps images as an object, not as bytes of a format
            saved.setImageData(current.imageData())
        self._keep_on_disk(saved)
        return saved

    def _keep_on_disk(self, saved: QMimeData) -> None:
        texts = {fmt: bytes(saved.data(fmt).data()).decode("utf-8", "replace") for fmt in saved.formats()
                 if fmt.startswith("text/")}
        self.rescue.keep(texts)

    def restore(self, saved: QMimeData) -> None:
        self._offered = None
        QGuiApplication.clipboard().setMimeData(saved)
        self.discard(saved)
        _register_handback()

    def discard(self, _saved: QMimeData) -> None:
        """The saved clipboard is back, or no longer wanted (the user copied since)."""
        self.rescue.clear()

    def recover(self) -> bool:
        """After a crash mid-paste, put back the user's clipboard text that was kept aside, when
        the clipboard now holds no text (the crash took ours with it). True when it was put back."""
        texts = self.rescue.take()
        if not texts or self.text():
            return False
        restored = QMimeData()
        for fmt, text in texts.items():
            restored.setData(fmt, str(text).encode("utf-8"))
        QGuiApplication.clipboard().setMimeData(restored)
        _register_handback()
        return True


_clipboard_handback_registered = False


def _register_handback() -> None:
    global _clipboard_handback_registered
    if not _clipboard_handback_registered:
        atexit.register(_hand_back_clipboard)
        _clipboard_handback_registered = True


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
