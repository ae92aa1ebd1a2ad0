"""The settings dialog and how its settings take effect in the running app (offscreen Qt)."""

from __future__ import annotations

import configparser
import shlex

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from parakeet_desktop.desktop import autostart
from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.recognize.transcript import replace_phrases
from parakeet_desktop.settings import config
from support.app import PastingKeyboard, close_app
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence


def test_every_setting_round_trips_through_the_dialog_and_the_file(qtbot, app_dirs):
    from parakeet_desktop.ui.settings_dialog import SettingsDialog

    chosen = config.Settings(model="nvidia/parakeet-tdt_ctc-110m", device="cpu", microphone="USB Headset",
                             hotkey="f9", mode="handsfree", injection="type", trailing_space=False,
                             vad_aggressiveness=3, pause_ms=1200, final_pass="never", latency="fast",
                             overlay_position="top", overlay_opacity=0.6, overlay_width=0.7, sounds=False,
                             start_at_login=True, replacements=[["new line", "\\n"], ["full stop", "."]],
                             api_enabled=True, api_port=9123, api_streams_without_token=True,
                             paste_keys="ctrl+shift+v")
    dialog = SettingsDialog(chosen, ["Built-in Audio", "USB Headset"])
    qtbot.addWidget(dialog)
    assert dialog.result_settings() == chosen  # every field is shown and read back unchanged
    config.save_settings(dialog.result_settings())
    assert config.load_settings() == (chosen, [])

    dialog.device.setCurrentIndex(dialog.device.findData("auto"))
    # Each choice shows its own words, though several enums share the value "auto".
    shown = {dialog.device.currentText()}
    for box in (dialog.injection, dialog.paste_keys, dialog.final_pass):
        box.setCurrentIndex(box.findData("auto"))
        shown.add(box.currentText())
    assert shown == {"Automatic (the GPU when usable)", "Automatic",
                     "Automatic (Ctrl+Shift+V in terminals where it can be told)",
                     "When it is cheap (GPU, short utterances)"}
    dialog.microphone.setCurrentIndex(0)
    dialog._add_replacement("comma", ",")
    changed = dialog.result_settings()
    assert changed.device == "auto" and changed.microphone is None
    assert changed.replacements[-1] == ["comma", ","]


def test_the_local_api_tab_shows_the_address_and_copies_the_token(qtbot):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QLineEdit, QPushButton

    from parakeet_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(config.Settings(), [], api_token="the-token", api_status="Off")
    qtbot.addWidget(dialog)
    assert not dialog.api_enabled.isChecked()  # off by default
    dialog.api_enabled.setChecked(True)
    dialog.api_port.setValue(9555)
    assert dialog.api_address.text() == "http://127.0.0.1:9555/v1"
    assert dialog.api_token.echoMode() is QLineEdit.EchoMode.Password  # not shown over a shoulder
    copies = [b for b in dialog.findChildren(QPushButton) if b.text() == "Copy"]
    copies[-1].click()
    assert QGuiApplication.clipboard().text() == "the-token"
    copies[0].click()
    assert QGuiApplication.clipboard().text() == "http://127.0.0.1:9555/v1"
    assert (dialog.result_settings().api_enabled, dialog.result_settings().api_port) == (True, 9555)


def test_hotkey_is_recorded_by_pressing_it_with_conflict_warnings(qtbot):
    from parakeet_desktop.ui.hotkey_recorder import HotkeyRecorder, hotkey_warning

    recorder = HotkeyRecorder("ctrl+alt+space")
    qtbot.addWidget(recorder)
    recorded = []
    recorder.recorded.connect(recorded.append)
    recorder.setChecked(True)
    qtbot.keyClick(recorder, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    recorder.setChecked(True)
    qtbot.keyClick(recorder, Qt.Key.Key_F9)
    recorder.setChecked(True)
    qtbot.keyPress(recorder, Qt.Key.Key_Control, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyPress(recorder, Qt.Key.Key_Shift, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyRelease(recorder, Qt.Key.Key_Shift, Qt.KeyboardModifier.ControlModifier)
    assert recorded == ["ctrl+alt+space", "f9", "ctrl+shift"]
    assert recorder.text() == "ctrl+shift" and not recorder.isChecked()
    assert hotkey_warning("ctrl+c") == ("ctrl+c is a common shortcut of the desktop or of apps; pressing it "
                                        "would also do that.", False)
    assert hotkey_warning("q")[0] and not hotkey_warning("q")[1]
    assert hotkey_warning("shift")[1]
    assert hotkey_warning("ctrl+alt+space") == ("", False)


def test_ctrl_and_a_letter_record_by_key_code_and_escape_cancels(qtbot):
    """As X11 delivers them: with Ctrl held, the event's text is a control character (Ctrl+C is
    "\\x03"); the recorder names the key from its code, so Ctrl+C records and warns."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from parakeet_desktop.ui.hotkey_recorder import HotkeyRecorder, hotkey_warning

    recorder = HotkeyRecorder("ctrl+alt+space")
    qtbot.addWidget(recorder)
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier

    def press(key, modifiers, text):
        QApplication.sendEvent(recorder, QKeyEvent(QEvent.Type.KeyPress, key, modifiers, text))

    recorder.setChecked(True)
    press(Qt.Key.Key_Control, ctrl, "")
    press(Qt.Key.Key_C, ctrl, "\x03")
    assert recorder.hotkey == "ctrl+c" and not recorder.isChecked()
    assert "common shortcut" in hotkey_warning(recorder.hotkey)[0]
    recorder.setChecked(True)
    press(Qt.Key.Key_D, ctrl | shift, "\x04")
    assert recorder.hotkey == "ctrl+shift+d"
    recorder.setChecked(True)
    press(Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier, "\x1b")
    assert recorder.hotkey == "ctrl+shift+d" and recorder.text() == "ctrl+shift+d" and not recorder.isChecked()


def test_replacements_apply_to_whole_words_in_any_case():
    pairs = [["new line", "\\n"], ["full stop", "."], ["kitchen", "Kitchen"]]
    assert replace_phrases("Meet me at the kitchens full stop New Line thanks", pairs) == \
        "Meet me at the kitchens.\nthanks"
    assert replace_phrases("the kitchen door", pairs) == "the Kitchen door"


def test_start_at_login_writes_and_removes_an_autostart_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    autostart.set_enabled(True)
    entry = tmp_path / "autostart" / "parakeet-desktop.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(entry)
    section = parser["Desktop Entry"]
    assert section["Type"] == "Application" and section["Name"] == "Parakeet Desktop"
    # This interpreter running the package, in the app's own systemd scope (desktop/app_scope.py).
    assert shlex.split(section["Exec"])[1:] == ["-m", "parakeet_desktop", "--app-scope"]
    assert autostart.is_enabled()
    autostart.set_enabled(False)
    assert not entry.exists() and not autostart.is_enabled()


@pytest.fixture(scope="module")
def two_sentences():
    return held_out_utterances(2)


def test_changed_settings_take_effect_without_a_restart(qtbot, app_dirs, two_sentences, monkeypatch,
                                                         tiny_nemo):
    from parakeet_desktop.ui.app import DesktopApp

    monkeypatch.setenv("XDG_CONFIG_HOME", str(app_dirs / "xdg"))
    (_, first), (_, second) = two_sentences
    recording = np.concatenate([silence(1.5), first, silence(2.5), second, silence(2.5)])
    keyboard = PastingKeyboard()
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", mode="handsfree", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=recording, realtime=True),
                     keyboard=keyboard)
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
        old_engine = app.worker.engine
        first_words = held_out_utterances(1)[0][0].split()
        new = config.Settings(**{**config.Settings().__dict__, **settings.__dict__})
        new.overlay_position = "top"
        new.pause_ms = 1500
        new.trailing_space = False
        new.start_at_login = True
        new.replacements = [[first_words[0], "FIRST"]]
        app.apply_settings(new)
        assert config.load_settings()[0] == new
        app.overlay.show_partial("caption")
        screen = QGuiApplication.primaryScreen().availableGeometry()
        assert app.overlay.geometry().center().y() < screen.center().y()  # moved to the top
        assert autostart.is_enabled()
        qtbot.waitUntil(lambda: app.worker.engine.session.settings.gate.endpoint_ms == 1500, timeout=10000)
        assert app.worker.engine is old_engine  # no model reload for these
        app.toggle()
        qtbot.waitUntil(lambda: bool(keyboard.received), timeout=30000)
        assert keyboard.received.startswith("FIRST") and not keyboard.received.endswith(" ")

        # Another model: the engine reloads on its thread; the app shows loading, then ready.
        other = config.Settings(**{**new.__dict__, "model": str(tiny_nemo)})
        app.apply_settings(other)
        assert app.state == "loading"
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
        assert app.worker.model_name == tiny_nemo.name and app.worker.engine is not old_engine
    finally:
        close_app(app)


def test_add_starts_editing_the_new_row_and_sliders_show_their_values(qtbot):
    from PySide6.QtWidgets import QAbstractItemView, QLabel, QPushButton

    from parakeet_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(config.Settings(), [])
    qtbot.addWidget(dialog)
    dialog.show()
    rows = dialog.replacements.rowCount()
    assert rows == 3  # "new line", "new paragraph" and "full stop" are there from the start
    for table in (dialog.replacements, dialog.commands.table):  # the Replacements and Commands tabs
        rows = table.rowCount()
        next(b for b in table.parent().findChildren(QPushButton) if b.text() == "Add").click()
        assert table.rowCount() == rows + 1 and table.currentRow() == rows
        assert table.state() == QAbstractItemView.State.EditingState
    dialog.overlay_opacity.setValue(70)
    assert any(label.text() == "70 %" for label in dialog.findChildren(QLabel))


def test_the_model_list_says_size_languages_and_what_suits_this_computer(qtbot, app_dirs, tmp_path):
    from parakeet_desktop.engine.model.registry import SMALL_MODEL_ID, has_nvidia_gpu
    from parakeet_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(config.Settings(), [])
    qtbot.addWidget(dialog)
    note = dialog.model_note
    assert "25 European languages" in note.text() and "2.4 GB download" in note.text()
    dialog.model.setCurrentIndex(dialog.model.findData(SMALL_MODEL_ID))
    assert "English" in note.text() and "0.5 GB download" in note.text()
    assert ("Recommended for this computer" in note.text()) != has_nvidia_gpu()
    local = tmp_path / "my model.nemo"
    dialog.model.addItem(str(local), str(local))
    dialog.model.setCurrentIndex(dialog.model.findData(str(local)))
    assert "A model file on this computer" in note.text() and str(local) in note.text()


def test_the_commands_tab_edits_the_list_and_turns_commands_off(qtbot):
    from PySide6.QtWidgets import QPushButton

    from parakeet_desktop.settings import DEFAULT_COMMANDS
    from parakeet_desktop.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(config.Settings(), [])
    qtbot.addWidget(dialog)
    tab = dialog.commands
    assert tab.enabled.isChecked() and dialog.result_settings().commands == DEFAULT_COMMANDS
    tab.table.item(0, 0).setText("next line")  # the user's own phrase for a line break
    tab.table.cellWidget(4, 1).setCurrentIndex(tab.table.cellWidget(4, 1).findData("enter"))
    tab.table.selectRow(2)
    next(b for b in tab.findChildren(QPushButton) if b.text() == "Remove").click()
    tab.enabled.setChecked(False)
    saved = dialog.result_settings()
    assert not saved.commands_enabled and not tab.table.isEnabled()
    assert saved.commands == [["next line", "new line"], ["new paragraph", "new paragraph"],
                              ["press enter", "enter"], ["press tab", "enter"]]
    next(b for b in tab.findChildren(QPushButton) if b.text() == "Restore defaults").click()
    assert dialog.result_settings().commands == DEFAULT_COMMANDS
    # A hand-edited settings file with an unknown action falls back to the defaults, with a warning.
    loaded, warnings = config._from_document({"schema": 1, "commands": [["go", "launch"]]})
    assert loaded.commands == DEFAULT_COMMANDS and any("commands" in w for w in warnings)
