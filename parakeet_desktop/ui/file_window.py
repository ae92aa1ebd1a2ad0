"""The file window: drop audio or video files (or pick them), watch each one's progress, read the
result as timed segments (click one to copy it; with speakers asked for, each segment names its
speaker in the speaker's colour, and the speakers can be renamed), and export TXT, SRT, VTT and
JSON beside the source or into a chosen folder (shown with its full path; "beside each file" is
always a click away). A file that cannot be read says so in its row; the others go on. Cancel works only while
something runs; "Clear finished" empties the list of what is done; "Open folder" shows where the
selected file's transcripts went; Esc closes the window (work goes on).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import export
from ..engine.audio import MEDIA_SUFFIXES
from ..engine.live import Outcome
from ..engine.recognize import Transcript
from ..engine.speakers import rename
from .speaker_names import RenameSpeakers, SpeakerChoice, speaker_colour

_STATUS, _PROGRESS = 1, 2
_RUNNING = ("Waiting…", "Working…")
PICKER_FILTER = f"Audio and video ({' '.join('*' + s for s in MEDIA_SUFFIXES)});;All files (*)"


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
        self.output_folder: Path | None = None  # None: beside each file
        self._chosen_folder: Path | None = None  # the last folder chosen, kept for a click back
        self.exported_to: dict[Path, Path] = {}  # where each file's transcripts were written

        hint = QLabel("Drop audio or video files here, or add them. Each file is exported when it is done.")
        hint.setWordWrap(True)
        add = QPushButton("Add files…")
        add.clicked.connect(self._pick)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the selected files, or all that are waiting or working")
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Show the folder the selected file's transcripts were written to")
        self.open_button.clicked.connect(self._open_folder)
        top = QHBoxLayout()
        for button in (add, self.cancel_button, self.clear_button):
            top.addWidget(button)
        top.addStretch(1)
        top.addWidget(self.open_button)

        self.formats = {fmt: QCheckBox(fmt.upper(), checked=fmt in ("txt", "srt")) for fmt in export.FORMATS}
        self.overwrite = QCheckBox("Replace existing files")
        self.overwrite.setToolTip("Off: an export whose name is taken (perhaps a transcript you corrected) "
                                  "gets a free name such as “talk (2).txt”")
        self.outputs = export.Outputs()
        formats = QHBoxLayout()
        formats.addWidget(QLabel("Export as"))
        for box in self.formats.values():
            formats.addWidget(box)
        formats.addWidget(self.overwrite)
        formats.addStretch(1)
        self.speakers = SpeakerChoice()
        formats.addWidget(self.speakers)
        self.written: dict[Path, list[tuple[str, Path]]] = {}  # each file's exports, written again on a rename

        self.beside = QRadioButton("Beside each file")
        self.into = QRadioButton("Into a folder:")
        self.into.setEnabled(False)  # until a folder has been chosen
        self.beside.setChecked(True)
        destination = QButtonGroup(self)
        destination.addButton(self.beside)
        destination.addButton(self.into)
        self.into.toggled.connect(self._destination_changed)
        self.folder_label = QLabel("no folder chosen")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.clicked.connect(self._pick_folder)
        where = QHBoxLayout()
        where.addWidget(QLabel("Save to"))
        where.addWidget(self.beside)
        where.addWidget(self.into)
        where.addWidget(self.folder_label, 1)
        where.addWidget(self.folder_button)

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
        self.rename_button = QPushButton("Rename speakers…")
        self.rename_button.setToolTip("Give the selected file's speakers their names; its exports are written again")
        self.rename_button.clicked.connect(self._rename_speakers)
        self.rename_button.setEnabled(False)  # until a transcript with speakers is shown
        below = QHBoxLayout()
        below.addWidget(self.copied, 1)
        below.addWidget(self.rename_button)
        results = QWidget()
        results_layout = QVBoxLayout(results)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.segments)
        results_layout.addLayout(below)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.queue)
        splitter.addWidget(results)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(top)
        layout.addLayout(formats)
        layout.addLayout(where)
        layout.addWidget(splitter, 1)
        self.resize(900, 600)
        self._update_buttons()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape:
            self.close()  # files in progress go on; the menu opens the window again
        else:
            super().keyPressEvent(event)

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
        names, _ = QFileDialog.getOpenFileNames(self, "Transcribe files", "", PICKER_FILTER)
        if names:
            self.add_files([Path(n) for n in names])

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export transcripts into")
        if folder:  # cancelled: the choice stays as it was
            self.set_output_folder(Path(folder))

    def set_output_folder(self, folder: Path | None) -> None:
        """Export into *folder* from now on; None goes back to beside each file (the folder
        stays shown, one click away)."""
        if folder is not None:
            self._chosen_folder = folder
            self.folder_label.setText(str(folder))
            self.folder_label.setToolTip(str(folder))
            self.into.setEnabled(True)
            self.into.setChecked(True)
        else:
            self.beside.setChecked(True)
        self._destination_changed()

    def _destination_changed(self) -> None:
        self.output_folder = self._chosen_folder if self.into.isChecked() else None

    def add_files(self, paths: list[Path]) -> None:
        fresh = []
        for path in paths:
            if path in self.rows and self._running(self.rows[path]):
                continue
            if path not in self.rows:
                row = self.queue.rowCount()
                self.queue.insertRow(row)
                self.rows[path] = row
                name = QTableWidgetItem(path.name)
                name.setToolTip(str(path))
                name.setData(Qt.ItemDataRole.UserRole, str(path))
                self.queue.setItem(row, 0, name)
                self.queue.setItem(row, _STATUS, QTableWidgetItem())
            self._set_row(path, "Waiting…", 0)
            fresh.append(path)
        if fresh:
            self.transcribe.emit(fresh)

    def job_started(self, paths: list[Path], job: int) -> None:
        for path in paths:
            self.jobs[path] = job

    # --- results ------------------------------------------------------------------------------

    def progress(self, path: Path, fraction: float) -> None:
        if path in self.rows and self._running(self.rows[path]):
            self._set_row(path, "Working…", round(1000 * fraction))

    def finished(self, path: Path, transcript: Transcript | None, error: str | None,
                 outcome: Outcome = Outcome.DONE) -> None:
        if transcript is None:
            self._set_row(path, "Cancelled" if outcome.cancelled else f"Error: {error}", None, error=True)
            return
        self.transcripts[path] = transcript
        written, problems = [], []
        self.outputs.overwrite = self.overwrite.isChecked()
        self.written[path] = []
        for fmt, box in self.formats.items():
            if not box.isChecked():
                continue
            try:
                target = self.outputs.write(transcript, fmt, path, self.output_folder)
                written.append(target.name)
                self.written[path].append((fmt, target))
                self.exported_to[path] = target.parent
            except OSError as exc:
                problems.append(f"{fmt}: {exc.strerror or exc}")
        status = f"Done — {', '.join(written)}" if written else "Done" if not problems else "Transcribed, not exported"
        if transcript.warnings:
            status += f" ({'; '.join(transcript.warnings)})"
        if problems:
            status += f" — could not write {'; '.join(problems)}"
        self._set_row(path, status, 1000, error=bool(problems))
        if self.queue.currentRow() in (-1, self.rows[path]):
            self.queue.selectRow(self.rows[path])
            self._show(transcript)

    def _set_row(self, path: Path, status: str, permille: int | None, error: bool = False) -> None:
        """A row's status and progress (in tenths of a percent, so a long file's bar moves
        smoothly); None: no bar (a file that failed or was cancelled has no progress to show)."""
        row = self.rows[path]
        item = self._cell(row, _STATUS)
        item.setText(status)
        item.setToolTip(status)
        item.setForeground(Qt.GlobalColor.darkRed if error else self.palette().text().color())
        bar = self.queue.cellWidget(row, _PROGRESS)
        if permille is None:
            self.queue.removeCellWidget(row, _PROGRESS)
        else:
            if not isinstance(bar, QProgressBar):
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setFormat("%p%")
                self.queue.setCellWidget(row, _PROGRESS, bar)
            bar.setValue(permille)
        self._update_buttons()

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.queue.item(row, column)
        assert item is not None, "every row of the queue has its items"
        return item

    def _running(self, row: int) -> bool:
        return self._cell(row, _STATUS).text() in _RUNNING

    def _update_buttons(self) -> None:
        rows = range(self.queue.rowCount())
        self.cancel_button.setEnabled(any(self._running(row) for row in rows))
        self.clear_button.setEnabled(any(not self._running(row) for row in rows))
        self.open_button.setEnabled(self.folder_to_open() is not None)

    def clear_finished(self) -> None:
        """Remove the rows of files that are done, failed or cancelled (their exports stay)."""
        for row in reversed(range(self.queue.rowCount())):
            if not self._running(row):
                path = Path(self._cell(row, 0).data(Qt.ItemDataRole.UserRole))
                self.queue.removeRow(row)
                self.transcripts.pop(path, None)
                self.jobs.pop(path, None)
        self.rows = {Path(self._cell(row, 0).data(Qt.ItemDataRole.UserRole)): row
                     for row in range(self.queue.rowCount())}
        self.segments.clear()
        self._update_buttons()

    def folder_to_open(self) -> Path | None:
        """Where the selected file's transcripts went; with none selected, where exports go."""
        path = self._selected_path()
        if path in self.exported_to:
            return self.exported_to[path]
        if self.output_folder is not None:
            return self.output_folder
        return path.parent if path is not None else None

    def _selected_path(self) -> Path | None:
        row = self.queue.currentRow()
        return next((p for p, r in self.rows.items() if r == row), None)

    def _open_folder(self) -> None:
        folder = self.folder_to_open()
        if folder is not None and not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.copied.setText(f"Could not open a file manager; the folder is {folder}")

    def _show_selected(self) -> None:
        self._update_buttons()
        path = self._selected_path()
        if path in self.transcripts:
            self._show(self.transcripts[path])

    def _show(self, transcript: Transcript) -> None:
        self.segments.clear()
        for segment in transcript.segments:
            speaker = transcript.speaker_name(segment.speaker)
            said = f"{speaker}: {segment.text}" if speaker else segment.text
            item = QListWidgetItem(f"{_clock(segment.start)} → {_clock(segment.end)}   {said}")
            item.setData(Qt.ItemDataRole.UserRole, segment.text)
            if speaker and segment.speaker is not None:
                item.setForeground(speaker_colour(segment.speaker))
            self.segments.addItem(item)
        self.rename_button.setEnabled(bool(transcript.speakers))

    def _rename_speakers(self) -> None:
        path = self._selected_path()
        if path not in self.transcripts or not self.transcripts[path].speakers:
            return
        dialog = RenameSpeakers(self.transcripts[path], self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.rename(path, dialog.names())

    def rename(self, path: Path, names: dict[int, str]) -> None:
        """*path*'s speakers renamed (number → name), shown, and its exports written again."""
        transcript = self.transcripts[path] = rename(self.transcripts[path], names)
        problems = []
        for fmt, target in self.written.get(path, []):
            try:
                export.write(transcript, fmt, target)
            except OSError as exc:
                problems.append(f"{target.name}: {exc.strerror or exc}")
        self.copied.setText(f"Could not write {'; '.join(problems)}" if problems else
                            "Renamed; the exports were written again." if self.written.get(path) else "Renamed.")
        self._show(transcript)

    def _copy_segment(self, item: QListWidgetItem) -> None:
        QGuiApplication.clipboard().setText(item.data(Qt.ItemDataRole.UserRole))
        self.copied.setText("Copied: " + item.data(Qt.ItemDataRole.UserRole)[:80])

    def _cancel_selected(self) -> None:
        rows = {i.row() for i in self.queue.selectedIndexes()} or set(range(self.queue.rowCount()))
        for path, row in self.rows.items():
            if row in rows and path in self.jobs and self._running(row):
                self.cancel.emit(self.jobs[path])
