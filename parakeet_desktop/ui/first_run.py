"""The first-run window: the model download with a real progress bar and size; when the model
cannot be had (no network, a .nemo file removed or damaged since the last run), why, with "Try
again", a way to use a local .nemo file instead and, for a file, to download the standard model."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..engine.registry import DEFAULT_MODEL_ID, REGISTRY


def _size(count: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


class FirstRunWindow(QWidget):
    retry = Signal()
    use_file = Signal(str)
    download = Signal(str)  # a model id of the registry

    def __init__(self, model_id: str) -> None:
        super().__init__(None, Qt.WindowType.Window)
        known = {info.id: info for info in REGISTRY}.get(model_id)
        self.model_id = model_id
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
        standard = {info.id: info for info in REGISTRY}[DEFAULT_MODEL_ID]
        self.download_button = QPushButton(f"Download {standard.title} ({standard.size_mb / 1000:.1f} GB)")
        self.download_button.clicked.connect(self._download)
        self.download_button.setVisible(known is None)  # the configured model is a file
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.download_button)
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
        known = any(info.id == self.model_id for info in REGISTRY)
        self.title.setText(f"<b>{'The speech model could not be downloaded' if known else 'The speech model cannot be used'}</b>")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.detail.setText(f"<span style='color:#8c1414'>{message}</span>")
        self.retry_button.show()

    def _loading(self, detail: str, signal, *args) -> None:
        self.title.setText("<b>Getting the speech model</b>")
        self.retry_button.hide()
        self.bar.setRange(0, 0)
        self.detail.setText(detail)
        signal.emit(*args)

    def _download(self) -> None:
        self.model_id = DEFAULT_MODEL_ID
        self._loading("Connecting…", self.download, DEFAULT_MODEL_ID)

    def _retry(self) -> None:
        self._loading("Trying again…", self.retry)

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a NeMo model", "", "NeMo models (*.nemo)")
        if path:
            self.model_id = path
            self.download_button.hide()
            self._loading(f"Loading {path}…", self.use_file, path)
