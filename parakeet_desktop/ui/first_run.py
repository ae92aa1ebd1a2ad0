"""The first-run window: the model download with a real progress bar and size; when it cannot
be downloaded, why, with "Try again" and a way to use a local .nemo file instead."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..engine.registry import REGISTRY


def _size(count: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


class FirstRunWindow(QWidget):
    retry = Signal()
    use_file = Signal(str)

    def __init__(self, model_id: str) -> None:
        super().__init__(None, Qt.WindowType.Window)
        known = {info.id: info for info in REGISTRY}.get(model_id)
        self.setWindowTitle("Parakeet Desktop — Getting the speech model")
        self.title = QLabel(f"<b>Downloading {known.title if known else model_id}</b>")
        about = QLabel(
            (f"{known.description} About {known.size_mb / 1000:.1f} GB, downloaded once; later starts "
             "need no network." if known else "Downloaded once; later starts need no network."))
        about.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the size is known
        self.detail = QLabel("Connecting…")
        self.detail.setWordWrap(True)
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self._retry)
        self.file_button = QPushButton("Use a local .nemo file…")
        self.file_button.clicked.connect(self._pick)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.file_button)
        buttons.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(about)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)
        self.retry_button.hide()
        self.resize(520, 200)

    def progress(self, done: int, total: int | None) -> None:
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * done / total))
            self.detail.setText(f"{_size(done)} of {_size(total)}")
        else:
            self.detail.setText(f"{_size(done)} downloaded")

    def downloaded(self) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.detail.setText("Downloaded. Loading the model…")

    def failed(self, message: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.detail.setText(f"<span style='color:#8c1414'>{message}</span>")
        self.retry_button.show()

    def _retry(self) -> None:
        self.retry_button.hide()
        self.bar.setRange(0, 0)
        self.detail.setText("Connecting…")
        self.retry.emit()

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a NeMo model", "", "NeMo models (*.nemo)")
        if path:
            self.use_file.emit(path)
