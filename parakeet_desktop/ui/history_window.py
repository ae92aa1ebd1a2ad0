"""The history window: every dictated utterance, searchable; play its audio, transcribe it again
with the current model and settings, copy, delete one or all, and export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..engine.audio import SAMPLE_RATE
from ..history.audio import AudioShelf
from ..history.store import Entry, History, HistoryError
from ..storage import write_atomic
from .widgets import button_row

_TITLE = "Parakeet Desktop — History"


class HistoryWindow(QWidget):
    retranscribe = Signal(int, object)  # entry id, its audio (float32 samples at 16 kHz)

    def __init__(self, history: History, shelf: AudioShelf) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle(_TITLE)
        self.history = history
        self.shelf = shelf
        self.entries: list[Entry] = []
        self.search = QLineEdit(placeholderText="Search the texts")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["When", "Length", "Text", "Typed"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(self.copy_selected)
        self.message = QLabel()
        self.message.setWordWrap(True)
        row, self.buttons = button_row((
            ("play", "Play", self.play_selected), ("again", "Transcribe again", self.transcribe_selected_again),
            ("copy", "Copy", self.copy_selected), ("export", "Export…", self.export),
            ("delete", "Delete", self.delete_selected), ("undo", "Undo delete", self.undo_delete),
            ("delete_all", "Delete all…", self.delete_all)), stretch_after="export")
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        layout.addWidget(self.message)
        layout.addLayout(row)
        self.resize(860, 460)
        self._playing = False
        self._deleted: list[Entry] = []  # the last delete, until it can no longer be undone
        self.buttons["undo"].hide()

    # --- listing --------------------------------------------------------------------------

    def refresh(self) -> None:
        try:
            self.entries = self.history.recent(1000, self.search.text().strip())
        except HistoryError as exc:
            self.say(str(exc), error=True)
            return
        memory_only = bool(self.history.problem and "memory" in self.history.problem)
        self.setWindowTitle(_TITLE + (" (this session only)" if memory_only else ""))
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            when = QTableWidgetItem(time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created)))
            length = QTableWidgetItem(f"{entry.seconds:.1f} s" + (" ♪" if entry.audio else ""))
            length.setToolTip("Its audio is kept: play it or transcribe it again" if entry.audio
                              else "No audio kept")
            text = QTableWidgetItem(entry.text)
            text.setToolTip(entry.problem or entry.text)
            typed = QTableWidgetItem("yes" if entry.delivered else "no")
            for column, item in enumerate((when, length, text, typed)):
                self.table.setItem(row, column, item)

    def _selected(self) -> list[Entry]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self.entries[r] for r in rows if r < len(self.entries)]

    def say(self, message: str, error: bool = False) -> None:
        self.message.setText(f"<span style='color:#8c1414'>{message}</span>" if error else message)

    # --- actions --------------------------------------------------------------------------

    def copy_selected(self) -> None:
        chosen = self._selected()
        if chosen:
            QGuiApplication.clipboard().setText("\n".join(e.text for e in chosen))
            self.say(f"Copied {_count(len(chosen))}.")

    def _audio_of_one(self, action: str):
        chosen = self._selected()
        if len(chosen) != 1:
            self.say(f"Choose one utterance to {action}.")
            return None, None
        try:
            return chosen[0], self.shelf.read(chosen[0])
        except HistoryError as exc:
            self.say(f"Cannot {action} it: {exc}.", error=True)
            return chosen[0], None

    def play_selected(self) -> None:
        import sounddevice

        if self._playing:
            sounddevice.stop()
            self._stopped()
            return
        entry, samples = self._audio_of_one("play")
        if samples is None:
            return
        try:
            sounddevice.play(samples, SAMPLE_RATE)
        except Exception as exc:  # PortAudioError, no output device: say it, in the window
            self.say(f"Cannot play it: no sound output is available ({exc}).", error=True)
            return
        self._playing = True
        self.buttons["play"].setText("Stop")
        self.say(f"Playing {len(samples) / SAMPLE_RATE:.1f} s…")
        QTimer.singleShot(int(1000 * len(samples) / SAMPLE_RATE) + 200, self._stopped)

    def _stopped(self) -> None:
        if self._playing:
            self._playing = False
            self.buttons["play"].setText("Play")
            self.say("")

    def transcribe_selected_again(self) -> None:
        entry, samples = self._audio_of_one("transcribe again")
        if samples is not None:
            self.say("Transcribing it again with the current model…")
            self.retranscribe.emit(entry.id, samples)

    def transcribed_again(self, entry_id: int, text: str | None, error: str | None) -> None:
        """The result of :attr:`retranscribe`: the entry's text is replaced (the old one shown)."""
        entry = next((e for e in self.entries if e.id == entry_id), None)
        if error:
            self.say(f"It could not be transcribed again: {error}", error=True)
        elif entry is not None and text == entry.text:
            self.say("Transcribed again: the same text.")
        else:
            self.say(f"Transcribed again. It was: “{entry.text if entry else ''}”")
        self.refresh()

    def delete_selected(self) -> None:
        chosen = self._selected()
        if not chosen:
            self.say("Choose the utterances to delete.")
            return
        try:
            for entry in chosen:
                self.history.delete(entry.id)
        except HistoryError as exc:
            self.say(str(exc), error=True)
            return
        self._settle_deleted()
        self._deleted = chosen  # their audio stays until the delete can no longer be undone
        self.refresh()
        self.table.clearSelection()  # a second click must not delete the row that moved up
        self.buttons["undo"].show()
        self.say(f"Deleted {_count(len(chosen))}.")

    def undo_delete(self) -> None:
        try:
            self.history.restore(self._deleted)
        except HistoryError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"Put back {_count(len(self._deleted))}.")
        self._deleted = []
        self.buttons["undo"].hide()
        self.refresh()

    def _settle_deleted(self) -> None:
        """The last delete is final: its audio goes."""
        self.shelf.forget(self._deleted)
        self._deleted = []
        self.buttons["undo"].hide()

    def delete_all(self) -> None:
        if not self.confirm("Delete every utterance in the history, with its audio? This cannot be undone."):
            return
        self._settle_deleted()
        try:
            everything = self.history.recent(10**9)
            self.history.delete_all()
        except HistoryError as exc:
            self.say(str(exc), error=True)
            return
        self.shelf.forget(everything)
        self.refresh()
        self.say("The history is empty.")

    def confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self, _TITLE, question)
        return answer == QMessageBox.StandardButton.Yes

    def export(self) -> None:
        entries = self._selected() or self.entries
        if not entries:
            self.say("Nothing to export.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the history", str(Path.home() / "history.txt"),
                                              "Text (*.txt);;CSV (*.csv);;JSON (*.json)")
        if path:
            self.export_to(Path(path), entries)

    def export_to(self, path: Path, entries: list[Entry]) -> None:
        try:
            write_atomic(path, export_text(entries, path.suffix.lower()))
        except OSError as exc:
            self.say(f"Could not export to {path}: {exc.strerror or exc}", error=True)
            return
        self.say(f"Exported {_count(len(entries))} to {path}.")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._settle_deleted()
        super().hideEvent(event)


def export_text(entries: list[Entry], suffix: str) -> str:
    """*entries* as .csv, .json or (any other suffix) plain text, oldest first."""
    entries = sorted(entries, key=lambda e: e.created)

    def when(entry):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created))

    if suffix == ".json":
        return json.dumps([{"time": when(e), "seconds": round(e.seconds, 2), "text": e.text, "model": e.model,
                            "language": e.language} for e in entries], ensure_ascii=False, indent=2) + "\n"
    if suffix == ".csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", "seconds", "text", "model", "language"])
        writer.writerows([when(e), f"{e.seconds:.2f}", e.text, e.model, e.language or ""] for e in entries)
        return out.getvalue()
    return "".join(f"[{when(e)}] {e.text}\n" for e in entries)


def _count(n: int) -> str:
    return "1 utterance" if n == 1 else f"{n} utterances"


def open_history_window(history: History, shelf: AudioShelf,
                        again: Callable[[int, np.ndarray], None]) -> HistoryWindow:
    """The window for history.keeper.HistoryKeeper: its "transcribe again" calls *again*."""
    window = HistoryWindow(history, shelf)
    window.retranscribe.connect(again)
    return window
