"""The file window's speakers: the choice of how many (off, auto, 2-4), a colour for each, and
the dialog that renames them ("Speaker 1" → "Ana"; every export is written again with the names)."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from ..engine.recognize import Transcript
from ..engine.speakers import SpeakerRequest, default_name

# One colour a speaker, told apart on light and dark themes alike.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
CHOICES = (("Speakers: off", False), ("Speakers: auto", None), ("Speakers: 2", 2), ("Speakers: 3", 3),
           ("Speakers: 4", 4))


def speaker_colour(speaker: int) -> QColor:
    return QColor(COLOURS[speaker % len(COLOURS)])


class SpeakerChoice(QComboBox):
    """Off, or how many speakers the transcripts of the next files tell apart."""

    def __init__(self) -> None:
        super().__init__()
        for text, value in CHOICES:
            self.addItem(text, value)
        self.setToolTip("Tell the speakers apart in the next files' transcripts (who said what): auto, or how "
                        "many there are, at most four. Their names can be changed once a file is done.")

    def request(self) -> SpeakerRequest | None:
        value = self.currentData()
        return None if value is False else SpeakerRequest(count=value)


class RenameSpeakers(QDialog):
    """A name field for each speaker of a transcript; :meth:`names` after it is accepted."""

    def __init__(self, transcript: Transcript, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rename speakers")
        layout = QFormLayout(self)
        layout.addRow(QLabel("Names go into the exports, which are written again."))
        self.fields: list[QLineEdit] = []
        for number, name in enumerate(transcript.speakers):
            field = QLineEdit(name)
            field.setPlaceholderText(default_name(number))
            label = QLabel(default_name(number))
            label.setStyleSheet(f"color: {COLOURS[number % len(COLOURS)]}; font-weight: bold")
            layout.addRow(label, field)
            self.fields.append(field)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def names(self) -> dict[int, str]:
        return {number: field.text() for number, field in enumerate(self.fields)}
