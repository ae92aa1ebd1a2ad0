"""The file window: drop audio or video files (or pick them), watch each one's progress, read the
result as timed segments (click one to copy it), and export TXT, SRT, VTT and JSON beside the
source or into a chosen folder. A file that cannot be read says so in its row; the others go on.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget,
    QListWidgetItem, QProgressBar, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from ..engine import export
from ..engine.transcript import Transcript

_STATUS, _PROGRESS = 1, 2


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{seconds:04.1f}" if hours else f"{minutes:02d}:{seconds:04.1f}"


class FileWindow(QWidget):
    """Emits ``transcribe`` with the paths to run and ``cancel`` with a job id; the app runs them
    on the engine and calls :meth:`progress` and :meth:`finished` as results come."""

    transcribe = Signal(list)
    cancel = Signal(int)

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle("Parakeet Desktop — Transcribe files")
        self.setAcceptDrops(True)
        self.rows: dict[Path, int] = {}
        self.transcripts: dict[Path, Transcript] = {}
        self.jobs: dict[Path, int] = {}
        self.output_folder: Path | None = None

        hint = QLabel("Drop audio or video files here, or add them. Each file is exported when it is done.")
        hint.setWordWrap(True)
        add = QPushButton("Add files…")
        add.clicked.connect(self._pick)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.formats = {fmt: QCheckBox(fmt.upper(), checked=fmt in ("txt", "srt")) for fmt in export.FORMATS}
        self.overwrite = QCheckBox("Replace existing files")
        self.overwrite.setToolTip("Off: an export whose name is taken (perhaps a transcript you corrected) "
                                  "gets a free name such as “talk (2).txt”")
        self.outputs = export.Outputs()
        self.folder_button = QPushButton("Export beside each file")
        self.folder_button.clicked.connect(self._pick_folder)
        top = QHBoxLayout()
        top.addWidget(add)
        top.addWidget(self.cancel_button)
        top.addStretch(1)
        for box in self.formats.values():
            top.addWidget(box)
        top.addWidget(self.overwrite)
        top.addWidget(self.folder_button)

        self.queue = QTableWidget(0, 3)
        self.queue.setHorizontalHeaderLabels(["File", "Status", "Progress"])
        self.queue.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.queue.horizontalHeader().setSectionResizeMode(_STATUS, QHeaderView.ResizeMode.Stretch)
        self.queue.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queue.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queue.itemSelectionChanged.connect(self._show_selected)
        self.segments = QListWidget()
        self.segments.setWordWrap(True)
        self.segments.itemClicked.connect(self._copy_segment)
        self.copied = QLabel("Click a segment to copy its text.")
        results = QWidget()
        results_layout = QVBoxLayout(results)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.segments)
        results_layout.addWidget(self.copied)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.queue)
        splitter.addWidget(results)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.resize(900, 600)

    # --- adding files -------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.add_files(paths)
            event.acceptProposedAction()

    def _pick(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Transcribe files")
        if names:
            self.add_files([Path(n) for n in names])

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export transcripts into")
        self.output_folder = Path(folder) if folder else None
        self.folder_button.setText(f"Export into {self.output_folder.name}" if self.output_folder
                                   else "Export beside each file")

    def add_files(self, paths: list[Path]) -> None:
        fresh = []
        for path in paths:
            if path in self.rows and self.queue.item(self.rows[path], _STATUS).text() in ("Waiting…", "Working…"):
                continue
            if path not in self.rows:
                row = self.queue.rowCount()
                self.queue.insertRow(row)
                self.rows[path] = row
                name = QTableWidgetItem(path.name)
                name.setToolTip(str(path))
                self.queue.setItem(row, 0, name)
                self.queue.setItem(row, _STATUS, QTableWidgetItem())
                bar = QProgressBar()
                bar.setRange(0, 100)
                self.queue.setCellWidget(row, _PROGRESS, bar)
            self._set_row(path, "Waiting…", 0)
            fresh.append(path)
        if fresh:
            self.transcribe.emit(fresh)

    def job_started(self, paths: list[Path], job: int) -> None:
        for path in paths:
            self.jobs[path] = job

    # --- results ------------------------------------------------------------------------------

    def progress(self, path: Path, fraction: float) -> None:
        if path in self.rows and self.queue.item(self.rows[path], _STATUS).text() in ("Waiting…", "Working…"):
            self._set_row(path, "Working…", round(100 * fraction))

    def finished(self, path: Path, transcript: Transcript | None, error: str | None) -> None:
        if transcript is None:
            self._set_row(path, "Cancelled" if error == "cancelled" else f"Error: {error}", 0, error=True)
            return
        self.transcripts[path] = transcript
        written, problems = [], []
        self.outputs.overwrite = self.overwrite.isChecked()
        for fmt, box in self.formats.items():
            if not box.isChecked():
                continue
            try:
                written.append(self.outputs.write(transcript, fmt, path, self.output_folder).name)
            except OSError as exc:
                problems.append(f"{fmt}: {exc.strerror or exc}")
        status = f"Done — {', '.join(written)}" if written else "Done" if not problems else "Transcribed, not exported"
        if transcript.warnings:
            status += f" ({'; '.join(transcript.warnings)})"
        if problems:
            status += f" — could not write {'; '.join(problems)}"
        self._set_row(path, status, 100, error=bool(problems))
        if self.queue.currentRow() in (-1, self.rows[path]):
            self.queue.selectRow(self.rows[path])
            self._show(transcript)

    def _set_row(self, path: Path, status: str, percent: int, error: bool = False) -> None:
        row = self.rows[path]
        item = self.queue.item(row, _STATUS)
        item.setText(status)
        item.setToolTip(status)
        item.setForeground(Qt.GlobalColor.darkRed if error else self.palette().text().color())
        self.queue.cellWidget(row, _PROGRESS).setValue(percent)

    def _show_selected(self) -> None:
        row = self.queue.currentRow()
        path = next((p for p, r in self.rows.items() if r == row), None)
        if path in self.transcripts:
            self._show(self.transcripts[path])

    def _show(self, transcript: Transcript) -> None:
        self.segments.clear()
        for segment in transcript.segments:
            item = QListWidgetItem(f"{_clock(segment.start)} → {_clock(segment.end)}   {segment.text}")
            item.setData(Qt.ItemDataRole.UserRole, segment.text)
            self.segments.addItem(item)

    def _copy_segment(self, item: QListWidgetItem) -> None:
        QGuiApplication.clipboard().setText(item.data(Qt.ItemDataRole.UserRole))
        self.copied.setText("Copied: " + item.data(Qt.ItemDataRole.UserRole)[:80])

    def _cancel_selected(self) -> None:
        rows = {i.row() for i in self.queue.selectedIndexes()} or set(range(self.queue.rowCount()))
        for path, row in self.rows.items():
            if row in rows and path in self.jobs and self.queue.item(row, _STATUS).text() in ("Waiting…", "Working…"):
                self.cancel.emit(self.jobs[path])
