"""The first-run window: getting a speech model, with every state shown as it is.

- **choose**: the models the app knows (size, languages, and which suits this computer: with no
  NVIDIA GPU the small one), or a local ``.nemo`` file, or Quit. Nothing is downloaded unasked.
- **downloading**: a real progress bar and size, with Cancel.
- **loading**: the model is being loaded (after a download, or from a file).
- **ready**: how to dictate; the window can be closed.
- **failed**: why (no network, a file removed or damaged since the last run), with "Try again",
  a local file, and the choice of models.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QLabel,
    QProgressBar,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.model import DEFAULT_MODEL_ID, REGISTRY, has_nvidia_gpu, model_advice, recommended_model
from .widgets import button_row


def _size(count: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


class FirstRunWindow(QWidget):
    retry = Signal()
    use_file = Signal(str)
    download = Signal(str)  # a model id of the registry
    cancel = Signal()
    quit = Signal()

    def __init__(self, model_id: str, gpu: bool | None = None) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.model_id = model_id
        self.gpu = has_nvidia_gpu() if gpu is None else gpu
        self.state = ""
        self.setWindowTitle("Parakeet Desktop — Getting the speech model")
        self.title = QLabel()
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.choices = QButtonGroup(self)
        choice_box = QVBoxLayout()
        recommended = recommended_model(self.gpu)
        for info in REGISTRY:
            advice = model_advice(info, self.gpu)
            advice = f" — {advice}" if advice else ""
            button = QRadioButton(f"{info.title}: {info.size_mb / 1000:.1f} GB, {info.languages}{advice}")
            button.setToolTip(info.description)
            button.setProperty("model", info.id)
            self.choices.addButton(button)
            choice_box.addWidget(button)
            note = QLabel(f"<span style='color:#555555'>{info.description}</span>")
            note.setContentsMargins(24, 0, 0, 4)
            choice_box.addWidget(note)
            # The standard model is only the settings' default: the choice is what suits this computer.
            chosen_before = model_id != DEFAULT_MODEL_ID and any(i.id == model_id for i in REGISTRY)
            if info.id == (model_id if chosen_before else recommended):
                button.setChecked(True)
        self.choice_panel = QWidget()
        self.choice_panel.setLayout(choice_box)
        self.bar = QProgressBar()
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        row, self.buttons = button_row((
            ("quit", "Quit", self.quit.emit), ("file", "Use a local .nemo file…", self._pick),
            ("cancel", "Cancel download", self._cancel), ("retry", "Try again", self._retry),
            ("start", "Download and start", self._download), ("close", "Close", self.close)), stretch_after="quit")
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.about)
        layout.addWidget(self.choice_panel)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        layout.addLayout(row)
        self.resize(640, 300)
        # Kept for callers that read them by their old names.
        self.retry_button, self.file_button = self.buttons["retry"], self.buttons["file"]
        self.download_button = self.buttons["start"]

    def chosen(self) -> str:
        button = self.choices.checkedButton()
        assert button is not None, "one model is chosen from the start"
        return button.property("model")

    def _show(self, state: str, title: str, about: str, buttons: tuple[str, ...], detail: str = "",
              bar: tuple[int, int] | None = None) -> None:
        self.state = state
        self.title.setText(f"<b>{title}</b>")
        self.about.setText(about)
        self.about.setVisible(bool(about))
        self.choice_panel.setVisible(state in ("choose", "failed"))
        self.bar.setVisible(bar is not None)
        if bar is not None:
            self.bar.setRange(0, bar[1])
            self.bar.setValue(bar[0])
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))
        for name, button in self.buttons.items():
            button.setVisible(name in buttons)
        self.adjustSize()

    # --- the states -----------------------------------------------------------------------

    def choose(self) -> None:
        self._show("choose", "Choose a speech model",
                   "Parakeet Desktop recognises speech on this computer; nothing you say leaves it. "
                   "The model is downloaded once; later starts need no network.",
                   ("quit", "file", "start"))

    def downloading(self, model_id: str) -> None:
        info = next((i for i in REGISTRY if i.id == model_id), None)
        self._show("downloading", f"Downloading {info.title if info else model_id}",
                   f"About {info.size_mb / 1000:.1f} GB, downloaded once." if info else "Downloaded once.",
                   ("quit", "cancel"), "Connecting…", (0, 0))

    def progress(self, done: int, total: int | None) -> None:
        if self.state != "downloading":
            self.downloading(self.model_id)
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * done / total))
            self.detail.setText(f"{_size(done)} of {_size(total)}")
        else:
            self.detail.setText(f"{_size(done)} downloaded")

    def loading(self, what: str = "") -> None:
        self._show("loading", "Loading the speech model", "", ("quit",),
                   what or "This takes a few seconds, longer the first time.", (0, 0))

    def downloaded(self) -> None:
        self.loading("Downloaded. Loading the model…")

    def ready(self, hint: str) -> None:
        self._show("ready", "Ready to dictate", hint, ("close",), bar=(1, 1))

    def failed(self, message: str) -> None:
        known = any(info.id == self.model_id for info in REGISTRY)
        self._show("failed", "The speech model could not be downloaded" if known else "The speech model cannot be used",
                   "", ("quit", "file", "retry", "start"), f"<span style='color:#8c1414'>{message}</span>")

    # --- the user's choices ---------------------------------------------------------------

    def _download(self) -> None:
        self.model_id = self.chosen()
        self.downloading(self.model_id)
        self.download.emit(self.model_id)

    def _retry(self) -> None:
        self.loading("Trying again…")
        self.retry.emit()

    def _cancel(self) -> None:
        self.detail.setText("Cancelling…")
        self.cancel.emit()

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a NeMo model", "", "NeMo models (*.nemo)")
        if path:
            self.choose_file(path)

    def choose_file(self, path: str) -> None:
        self.model_id = path
        self.loading(f"Loading {path}…")
        self.use_file.emit(path)
