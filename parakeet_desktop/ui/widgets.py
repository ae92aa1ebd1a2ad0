"""Small building blocks shared by the app's windows."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTableWidget


def button_row(specs: tuple[tuple[str, str, Callable], ...], stretch_after: str) -> tuple[QHBoxLayout, dict]:
    """A row of buttons from (name, label, slot) and the buttons by name; the space between the
    groups goes after *stretch_after*."""
    row, buttons = QHBoxLayout(), {}
    for name, label, slot in specs:
        button = buttons[name] = QPushButton(label)
        button.clicked.connect(slot)
        row.addWidget(button)
        if name == stretch_after:
            row.addStretch(1)
    return row, buttons


def note(text: str) -> QLabel:
    """A label that wraps, for a sentence or two of explanation."""
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def quiet(text: str) -> str:
    """*text* in the grey of help lines (rich text)."""
    return f"<span style='color:#555555'>{text}</span>"


def edit_last_row(table: QTableWidget) -> None:
    """Select the table's last row (just added) and start editing its first cell."""
    row = table.rowCount() - 1
    table.setCurrentCell(row, 0)
    if (item := table.item(row, 0)) is not None:
        table.editItem(item)


def remove_selected_rows(table: QTableWidget) -> None:
    for row in sorted({i.row() for i in table.selectedIndexes()}, reverse=True):
        table.removeRow(row)
