"""The settings' Commands tab: spoken commands on or off, and the list of phrase → action, each
phrase the user's to change (another language, a word the model hears better)."""

from __future__ import annotations

from functools import partial

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..settings import DEFAULT_COMMANDS, Settings, SpokenAction, clean_commands
from .widgets import button_row, edit_last_row, note, quiet, remove_selected_rows


class CommandsTab(QWidget):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = QCheckBox("Do spoken commands at the end of what I say")
        self.enabled.setChecked(settings.commands_enabled)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["When I end with", "Do"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._fill(settings.commands)
        buttons, _ = button_row((("add", "Add", self._add_and_edit),
                                 ("remove", "Remove", partial(remove_selected_rows, self.table)),
                                 ("defaults", "Restore defaults", self._restore)), stretch_after="remove")
        help_text = note(quiet(
            "A command counts when what you say is the command, or ends with it, whatever punctuation the "
            "text gets: “…see you soon, new line”. Inside a sentence the same words are typed. “Scratch "
            "that” alone removes the text dictated just before, if you have not typed since; after other "
            "words, it drops those words. The history keeps everything you said."))
        self.enabled.toggled.connect(self.table.setEnabled)
        self.table.setEnabled(settings.commands_enabled)
        layout = QVBoxLayout(self)
        layout.addWidget(self.enabled)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(help_text)

    def values(self) -> tuple[bool, list[list[str]]]:
        pairs = []
        for row in range(self.table.rowCount()):
            phrase = (self.table.item(row, 0) or QTableWidgetItem("")).text()
            action = self.table.cellWidget(row, 1)
            assert isinstance(action, QComboBox), "each row's second cell is its action's list"
            pairs.append([phrase, action.currentData()])
        return self.enabled.isChecked(), clean_commands(pairs)

    def _fill(self, commands) -> None:
        self.table.setRowCount(0)
        for phrase, action in commands:
            self._add(phrase, action)

    def _add(self, phrase: str, action: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(phrase))
        choice = QComboBox()
        for each in SpokenAction:
            choice.addItem(each.label, each.value)
        choice.setCurrentIndex(max(0, choice.findData(action)))
        self.table.setCellWidget(row, 1, choice)

    def _add_and_edit(self) -> None:
        self._add("", SpokenAction.NEW_LINE.value)
        edit_last_row(self.table)

    def _restore(self) -> None:
        self._fill(DEFAULT_COMMANDS)
