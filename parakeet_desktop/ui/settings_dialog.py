"""The settings dialog: every option of :class:`config.Settings`, grouped in tabs."""

from __future__ import annotations

import dataclasses
import enum
import html
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..engine.model import REGISTRY, cached_model_file, has_nvidia_gpu, known_model, model_advice
from ..engine.recognize import clean_phrases
from ..settings import (
    Device,
    FinalPass,
    GpuRest,
    Injection,
    KeepAudio,
    Latency,
    Mode,
    OverlayPosition,
    PasteKeys,
    Settings,
    label,
)
from .commands_tab import CommandsTab
from .hotkey_recorder import HotkeyRecorder, hotkey_warning
from .widgets import edit_last_row, remove_selected_rows
from .widgets import note as _note
from .widgets import quiet as _quiet


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, microphones: list[str], parent: QWidget | None = None, *,
                 api_token: str | None = None, api_status: str = "Off",
                 desktop_routes: list[tuple[str, str]] | None = None) -> None:
        """*desktop_routes*: (label, text) lines saying how this desktop lets the hotkey be heard and
        the text be typed (desktop/routes.py), shown under the hotkey."""
        super().__init__(parent)
        self.desktop_routes = desktop_routes or []
        self.setWindowTitle("Parakeet Desktop — Settings")
        self.original = settings
        tabs = QTabWidget()
        tabs.addTab(self._recognition_tab(settings), "Recognition")
        tabs.addTab(self._dictation_tab(settings, microphones), "Dictation")
        tabs.addTab(self._appearance_tab(settings), "Appearance")
        tabs.addTab(self._replacements_tab(settings), "Replacements")
        tabs.addTab(self._vocabulary_tab(settings), "Vocabulary")
        self.commands = CommandsTab(settings)
        tabs.addTab(self.commands, "Commands")
        tabs.addTab(self._history_tab(settings), "History")
        tabs.addTab(self._api_tab(settings, api_token, api_status), "Local API")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self.resize(780, 500)  # every tab shows its name

    # --- tabs -----------------------------------------------------------------------------

    def _recognition_tab(self, s: Settings) -> QWidget:
        page, form = _form()
        self.model = QComboBox()
        for info in REGISTRY:
            self.model.addItem(f"{info.title} ({info.id})", info.id)
        if self.model.findData(s.model) < 0:
            self.model.addItem(s.model, s.model)
        self.model.setCurrentIndex(self.model.findData(s.model))
        browse = QPushButton("Local .nemo file…")
        browse.clicked.connect(self._pick_model_file)
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        self.model_note = _note("")
        self.model_note.setMinimumHeight(2 * self.model_note.fontMetrics().lineSpacing())  # no jump
        self.model.currentIndexChanged.connect(self._describe_model)
        self._gpu = has_nvidia_gpu()
        self._describe_model()
        column = QVBoxLayout()
        column.setSpacing(2)
        column.addLayout(row)
        column.addWidget(self.model_note)
        form.addRow("Model", column)
        self.device = _choices(Device, s.device)
        form.addRow("Device", self.device)
        self.free_gpu = _choices(GpuRest, s.free_gpu_after_minutes)
        form.addRow("Free GPU memory", _with_help(self.free_gpu, "While you do not dictate, the model waits in "
                                                  "the computer's memory so that games and other programs can "
                                                  "use the GPU; the next dictation brings it back (nothing you "
                                                  "say is lost). Only with an NVIDIA GPU."))
        self.latency = _choices(Latency, s.latency)
        form.addRow("Live captions", _with_help(self.latency, "Captions while you speak. Fast shows words sooner "
                                                "and asks more of the processor; accurate lags a little "
                                                "more and gets more words right. A streaming model's steps: "
                                                "fast 80 ms, balanced 160 ms with a GPU (1.1 s without), "
                                                "accurate 1.1 s."))
        self.final_pass = _choices(FinalPass, s.final_pass)
        form.addRow("Full-context final pass", _with_help(self.final_pass, "After you release the key, the whole "
                                                          "utterance is recognised again at once: the best "
                                                          "text, a moment later (quick on a GPU, slower on "
                                                          "a CPU). A streaming model's text is final as it "
                                                          "streams: auto skips the pass for it."))
        return page

    def _dictation_tab(self, s: Settings, microphones: list[str]) -> QWidget:
        page, form = _form()
        self.microphone = QComboBox()
        self.microphone.addItem("System default", None)
        for name in microphones:
            self.microphone.addItem(name, name)
        if s.microphone and self.microphone.findData(s.microphone) < 0:
            self.microphone.addItem(f"{s.microphone} (not connected)", s.microphone)
        self.microphone.setCurrentIndex(max(0, self.microphone.findData(s.microphone)))
        form.addRow("Microphone", self.microphone)
        self.meter = QProgressBar()
        self.meter.setRange(-60, 0)
        self.meter.setValue(-60)
        self.meter.setFormat("%v dB")
        form.addRow("Input level", self.meter)
        self.hotkey = HotkeyRecorder(s.hotkey)
        self.hotkey.setToolTip("Click, then press the keys you want to hold for dictation")
        self.hotkey_note = QLabel()
        self.hotkey_note.setWordWrap(True)
        # Room for a two-line warning from the start: the form does not jump when one appears.
        self.hotkey_note.setMinimumHeight(2 * self.hotkey_note.fontMetrics().lineSpacing())
        self.hotkey.recorded.connect(lambda combo: self.hotkey_note.setText(hotkey_warning(combo)[0]))
        form.addRow("Hotkey", self.hotkey)
        form.addRow("", self.hotkey_note)
        self.mode = _choices(Mode, s.mode)
        form.addRow("Mode", self.mode)
        self.injection = _choices(Injection, s.injection)
        form.addRow("Typing method", self.injection)
        self.paste_keys = _choices(PasteKeys, s.paste_keys)
        form.addRow("Paste keys", self.paste_keys)
        if self.desktop_routes:
            self.routes_note = QLabel("<br>".join(f"<b>{html.escape(label)}:</b> {html.escape(text)}"
                                                  for label, text in self.desktop_routes))
            self.routes_note.setWordWrap(True)
            form.addRow("This desktop", self.routes_note)
        self.vad = QSpinBox(minimum=0, maximum=3, value=s.vad_aggressiveness)
        self.vad.setToolTip("0 lets more through (quiet rooms), 3 is strictest (noisy rooms)")
        form.addRow("Voice detection strictness", self.vad)
        self.pause = QSpinBox(minimum=300, maximum=5000, singleStep=100, suffix=" ms", value=s.pause_ms)
        form.addRow("Pause that ends a line", self.pause)
        self.trailing_space = QCheckBox("Add a space after each text", checked=s.trailing_space)
        form.addRow("", self.trailing_space)
        self.sounds = QCheckBox("Play a tone when listening starts and stops", checked=s.sounds)
        form.addRow("", self.sounds)
        self.start_at_login = QCheckBox("Start Parakeet Desktop when I log in", checked=s.start_at_login)
        form.addRow("", self.start_at_login)
        return page

    def _appearance_tab(self, s: Settings) -> QWidget:
        page, form = _form()
        self.overlay_position = _choices(OverlayPosition, s.overlay_position)
        form.addRow("Captions", self.overlay_position)
        self.overlay_opacity = QSlider(Qt.Orientation.Horizontal, minimum=30, maximum=100,
                                       value=round(s.overlay_opacity * 100))
        form.addRow("Caption opacity", _with_value(self.overlay_opacity, "{} %"))
        self.overlay_width = QSlider(Qt.Orientation.Horizontal, minimum=25, maximum=90,
                                     value=round(s.overlay_width * 100))
        form.addRow("Caption width", _with_value(self.overlay_width, "{} % of the screen"))
        return page

    def _history_tab(self, s: Settings) -> QWidget:
        page, form = _form()
        self.keep_audio = _choices(KeepAudio, s.keep_audio)
        form.addRow("Keep the audio of each utterance", self.keep_audio)
        self.keep_audio_mb = QSpinBox(minimum=10, maximum=1_000_000, singleStep=100, suffix=" MB",
                                      value=s.keep_audio_mb)
        form.addRow("Keep at most", self.keep_audio_mb)
        form.addRow("", _note("Kept audio lets the history window play an utterance and transcribe it again. "
                              "It stays on this computer, in about 3 KB a second of speech; the oldest goes "
                              "first when the limit is reached. The text of every utterance is kept until "
                              "you delete it."))
        return page

    def _replacements_tab(self, s: Settings) -> QWidget:
        page = QWidget()
        self.replacements = QTableWidget(0, 2)
        self.replacements.setHorizontalHeaderLabels(["When I say", "Write"])
        self.replacements.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.replacements.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for heard, write in s.replacements:
            self._add_replacement(heard, write)
        add = QPushButton("Add")
        add.clicked.connect(self._add_and_edit)
        remove = QPushButton("Remove")
        remove.clicked.connect(partial(remove_selected_rows, self.replacements))
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Whole words, any case; \\n in “Write” is a line break."), 1)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        layout = QVBoxLayout(page)
        layout.addWidget(self.replacements)
        layout.addLayout(buttons)
        return page

    def _vocabulary_tab(self, s: Settings) -> QWidget:
        page = QWidget()
        self.vocabulary = QPlainTextEdit("\n".join(s.vocabulary))
        self.vocabulary.setPlaceholderText("Parakeet\nKubernetes\nDr. Okonkwo")
        self.vocabulary_strength = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=10,
                                           value=s.vocabulary_strength)
        strength = QFormLayout()
        strength.addRow("Strength", _with_value(self.vocabulary_strength, "{} of 10"))
        layout = QVBoxLayout(page)
        layout.addWidget(_note("Names, product words and jargon the model may not know: one word or phrase a "
                               "line, written as it should appear. They are favoured while the words are "
                               "recognised (dictation, files and the Local API), not replaced afterwards."))
        layout.addWidget(self.vocabulary, 1)
        layout.addLayout(strength)
        layout.addWidget(_note(_quiet("Stronger finds the listed words more often; too strong and "
                                      "similar-sounding words turn into them.")))
        return page

    def _api_tab(self, s: Settings, token: str | None, status: str) -> QWidget:
        page, form = _form()
        self.api_enabled = QCheckBox("Serve the model to other programs on this computer", checked=s.api_enabled)
        form.addRow("", self.api_enabled)
        self.api_port = QSpinBox(minimum=1024, maximum=65535, value=s.api_port)
        form.addRow("Port", self.api_port)
        self.api_address = QLineEdit(readOnly=True)
        copy_address = QPushButton("Copy")
        copy_address.clicked.connect(lambda: QApplication.clipboard().setText(self.api_address.text()))
        form.addRow("Address", _row(self.api_address, copy_address))
        self.api_port.valueChanged.connect(self._show_api_address)
        self._show_api_address(s.api_port)
        self.api_token = QLineEdit(token or "", readOnly=True, echoMode=QLineEdit.EchoMode.Password)
        self.api_token.setPlaceholderText("made when the Local API first starts")
        show = QPushButton("Show", checkable=True)
        show.toggled.connect(lambda on: self.api_token.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        copy_token = QPushButton("Copy")
        copy_token.setEnabled(bool(token))
        copy_token.clicked.connect(lambda: QApplication.clipboard().setText(self.api_token.text()))
        form.addRow("Token", _row(self.api_token, show, copy_token))
        self.api_open_streams = QCheckBox("Let programs here open live streams without the token (eaRS's clients)",
                                          checked=s.api_streams_without_token)
        form.addRow("", self.api_open_streams)
        self.api_status = QLabel(status)
        form.addRow("Now", self.api_status)
        form.addRow("", _note("Programs on this computer that have the token can transcribe with the model the "
                              "app has loaded: OpenAI-style at the address above (/audio/transcriptions), live "
                              "audio over a WebSocket (/v1/stream). Web pages cannot reach it, and dictation "
                              "always goes first. The README's “Local API” section has examples."))
        return page

    def _show_api_address(self, port: int) -> None:
        self.api_address.setText(f"http://127.0.0.1:{port}/v1")

    # --- actions --------------------------------------------------------------------------

    def _pick_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a NeMo model", "", "NeMo models (*.nemo)")
        if path:
            if self.model.findData(path) < 0:
                self.model.addItem(path, path)
            self.model.setCurrentIndex(self.model.findData(path))

    def _describe_model(self) -> None:
        """Size, languages and whether the chosen model suits this computer, under the list."""
        ref = self.model.currentData()
        info = known_model(ref)
        if info is None:
            text = f"A model file on this computer: {html.escape(ref)}"
        else:
            try:
                downloaded = cached_model_file(info.id) is not None
            except Exception:  # noqa: BLE001 - a damaged cache only changes these words
                downloaded = False
            size = "downloaded" if downloaded else f"a {info.size_mb / 1000:.1f} GB download when you save"
            advice = model_advice(info, self._gpu)
            text = f"{info.languages}; {size}. {info.description}" + (
                f" <b>{advice[0].upper()}{advice[1:]}.</b>" if advice else "")
        self.model_note.setText(_quiet(text))

    def _add_replacement(self, heard: str, write: str) -> None:
        row = self.replacements.rowCount()
        self.replacements.insertRow(row)
        self.replacements.setItem(row, 0, QTableWidgetItem(heard))
        self.replacements.setItem(row, 1, QTableWidgetItem(write))

    def _add_and_edit(self) -> None:
        self._add_replacement("", "")
        edit_last_row(self.replacements)

    def show_level(self, dbfs: float) -> None:
        self.meter.setValue(max(-60, min(0, round(dbfs))))

    def _accept(self) -> None:
        warning, impossible = hotkey_warning(self.hotkey.hotkey)
        if impossible:
            self.hotkey_note.setText(warning)
            return
        self.accept()

    def result_settings(self) -> Settings:
        pairs = []
        for row in range(self.replacements.rowCount()):
            heard = (self.replacements.item(row, 0) or QTableWidgetItem("")).text().strip()
            write = (self.replacements.item(row, 1) or QTableWidgetItem("")).text()
            if heard:
                pairs.append([heard, write])
        commands_enabled, commands = self.commands.values()
        return dataclasses.replace(
            self.original, model=self.model.currentData(), device=self.device.currentData(),
            latency=self.latency.currentData(), final_pass=self.final_pass.currentData(),
            microphone=self.microphone.currentData(), hotkey=self.hotkey.hotkey,
            mode=self.mode.currentData(), injection=self.injection.currentData(),
            paste_keys=self.paste_keys.currentData(),
            vad_aggressiveness=self.vad.value(), pause_ms=self.pause.value(),
            trailing_space=self.trailing_space.isChecked(), sounds=self.sounds.isChecked(),
            start_at_login=self.start_at_login.isChecked(),
            overlay_position=self.overlay_position.currentData(),
            overlay_opacity=self.overlay_opacity.value() / 100, overlay_width=self.overlay_width.value() / 100,
            replacements=pairs, api_enabled=self.api_enabled.isChecked(), api_port=self.api_port.value(),
            api_streams_without_token=self.api_open_streams.isChecked(),
            keep_audio=self.keep_audio.currentData(), keep_audio_mb=self.keep_audio_mb.value(),
            vocabulary=list(clean_phrases(self.vocabulary.toPlainText().splitlines())),
            vocabulary_strength=self.vocabulary_strength.value(),
            commands_enabled=commands_enabled, commands=commands,
            free_gpu_after_minutes=self.free_gpu.currentData())


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for index, widget in enumerate(widgets):
        row.addWidget(widget, 1 if index == 0 else 0)
    return row


def _with_help(field: QWidget, text: str) -> QVBoxLayout:
    """*field* with a line of help under it (what the choice costs and gives)."""
    label = _note(_quiet(text))
    column = QVBoxLayout()
    column.setSpacing(2)
    column.addWidget(field)
    column.addWidget(label)
    return column


def _with_value(slider: QSlider, shown: str) -> QHBoxLayout:
    """*slider* with its value beside it, in *shown*'s words."""
    value = QLabel(shown.format(slider.value()))
    value.setMinimumWidth(value.fontMetrics().horizontalAdvance(shown.format(100)))
    slider.valueChanged.connect(lambda v: value.setText(shown.format(v)))
    return _row(slider, value)


def _form() -> tuple[QWidget, QFormLayout]:
    page = QWidget()
    return page, QFormLayout(page)


def _choices(choice: type[enum.Enum], current: enum.Enum) -> QComboBox:
    """A drop-down of *choice*'s members with their labels (choices.py), *current* chosen."""
    box = QComboBox()
    for member in choice:
        box.addItem(label(member), member)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box
