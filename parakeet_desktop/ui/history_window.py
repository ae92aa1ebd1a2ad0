"""A small window listing dictated utterances: copy or delete them."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from ..history import History, HistoryError


class HistoryWindow(QWidget):
    def __init__(self, history: History) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle("Parakeet Desktop — History")
        self.history = history
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["When", "Text", "Typed"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.doubleClicked.connect(self.copy_selected)
        copy = QPushButton("Copy")
        copy.clicked.connect(self.copy_selected)
        delete = QPushButton("Delete")
        delete.clicked.connect(self.delete_selected)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(copy)
        buttons.addWidget(delete)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.resize(640, 400)

    def refresh(self) -> None:
        try:
            entries = self.history.recent()
        except HistoryError as exc:
            self.setWindowTitle(f"Parakeet Desktop — History: {exc}")
            return
        self.setWindowTitle("Parakeet Desktop — History" + (" (this session only)" if self.history.problem
                                                              and "memory" in self.history.problem else ""))
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            when = QTableWidgetItem(time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created)))
            when.setData(Qt.ItemDataRole.UserRole, entry.id)
            text = QTableWidgetItem(entry.text)
            text.setToolTip(entry.problem or entry.text)
            self.table.setItem(row, 0, when)
            self.table.setItem(row, 1, text)
            self.table.setItem(row, 2, QTableWidgetItem("yes" if entry.delivered else "no"))

    def _selected(self) -> list[tuple[int, str]]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [(self.table.item(r, 0).data(Qt.ItemDataRole.UserRole), self.table.item(r, 1).text()) for r in rows]

    def copy_selected(self) -> None:
        chosen = self._selected()
        if chosen:
            QGuiApplication.clipboard().setText("\n".join(text for _, text in chosen))

    def delete_selected(self) -> None:
        try:
            for entry_id, _ in self._selected():
                self.history.delete(entry_id)
        except HistoryError as exc:
            self.setWindowTitle(f"Parakeet Desktop — History: {exc}")
            return
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.refresh()
        super().showEvent(event)
