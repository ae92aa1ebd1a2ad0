"""The desktop app's Qt parts under QT_QPA_PLATFORM=offscreen, with stand-ins only at the OS
edge: the keyboard that would send Ctrl+V to another app, and the microphone (a recording)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QThread
from PySide6.QtGui import QGuiApplication

from parakeet_desktop import control
from parakeet_desktop.desktop.inject import RESTORE_AFTER_MS, Injector
from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.live import Mode, ModelResting, Partial, SessionState, StateChanged, WakingUp
from parakeet_desktop.history.store import History
from parakeet_desktop.settings import config
from support.app import PastingKeyboard, close_app, drop_files, later
from support.models import SPEECH_MODEL
from support.speech import held_out_utterances, silence, word_error_rate


def test_paste_restores_the_users_clipboard_after_the_paste_landed(qtbot, qapp):
    from parakeet_desktop.ui.clipboard import QtClipboard

    clipboard = QGuiApplication.clipboard()
    clipboard.setText("the user's own clipboard")
    keyboard = PastingKeyboard()
    injector = Injector("paste", QtClipboard(), keyboard, later,
                        platform="x11", window_class=lambda: "gedit")
    result = injector.deliver("Grüße, Привет — déjà vu")
    assert result.ok and keyboard.chords == [("ctrl", "v")]
    assert keyboard.received == "Grüße, Привет — déjà vu"
    assert clipboard.text() == "Grüße, Привет — déjà vu"  # still there while the app fetches it
    qtbot.waitUntil(lambda: clipboard.text() == "the user's own clipboard", timeout=RESTORE_AFTER_MS + 2000)


def test_an_image_on_the_clipboard_comes_back_after_the_paste(qtbot, qapp):
    from PySide6.QtGui import QColor, QImage

    from parakeet_desktop.ui.clipboard import QtClipboard

    image = QImage(8, 8, QImage.Format.Format_RGB32)
    image.fill(QColor(10, 200, 30))
    clipboard = QGuiApplication.clipboard()
    clipboard.setImage(image)
    keyboard = PastingKeyboard()
    Injector("paste", QtClipboard(), keyboard, later, platform="x11", window_class=lambda: "").deliver("words")
    assert keyboard.received == "words"
    qtbot.waitUntil(lambda: not clipboard.image().isNull(), timeout=RESTORE_AFTER_MS + 2000)
    assert clipboard.image().pixelColor(3, 3) == QColor(10, 200, 30)


def test_terminals_get_ctrl_shift_v_and_a_new_copy_is_not_overwritten(qtbot, qapp):
    from parakeet_desktop.ui.clipboard import QtClipboard

    clipboard = QGuiApplication.clipboard()
    clipboard.setText("old")
    keyboard = PastingKeyboard()
    injector = Injector("paste", QtClipboard(), keyboard, later, platform="x11",
                        window_class=lambda: "Gnome-terminal")
    injector.deliver("ls -la")
    assert keyboard.chords == [("ctrl", "shift", "v")]
    clipboard.setText("copied by the user meanwhile")
    qtbot.wait(RESTORE_AFTER_MS + 200)
    assert clipboard.text() == "copied by the user meanwhile"


def test_failed_injection_leaves_the_text_on_the_clipboard(qtbot, qapp):
    from parakeet_desktop.ui.clipboard import QtClipboard

    class RefusingKeyboard(PastingKeyboard):
        def chord(self, *keys):
            raise OSError("the X server refused synthetic input")

    result = Injector("paste", QtClipboard(), RefusingKeyboard(), later, platform="x11",
                      window_class=lambda: "").deliver("keep these words")
    assert not result.ok and "clipboard" in result.problem
    assert QGuiApplication.clipboard().text() == "keep these words"
    wayland = Injector("auto", QtClipboard(), None, later, platform="wayland", which=lambda _t: None)
    result = wayland.deliver("on wayland")
    assert not result.ok and "Ctrl+V" in result.problem
    assert QGuiApplication.clipboard().text() == "on wayland"


def test_overlay_shows_partial_then_final_never_takes_focus_and_fades(qtbot, qapp):
    from parakeet_desktop.ui import overlay as overlay_module
    from parakeet_desktop.ui.overlay import CaptionOverlay

    overlay = CaptionOverlay("bottom", 0.85, 0.5)
    qtbot.addWidget(overlay)
    overlay.show_partial("the quick brown")
    assert overlay.isVisible() and overlay.text == "the quick brown" and not overlay.final
    overlay.show_finishing()  # the key is up: not the stale caption
    assert overlay.text == "Finishing…" and not overlay.final
    overlay.show_final("The quick brown fox.")
    assert overlay.text == "The quick brown fox." and overlay.final
    flags = overlay.windowFlags()
    assert flags & Qt.WindowType.WindowDoesNotAcceptFocus
    assert flags & Qt.WindowType.WindowTransparentForInput
    assert flags & Qt.WindowType.WindowStaysOnTopHint
    assert overlay.focusPolicy() == Qt.FocusPolicy.NoFocus and not overlay.isActiveWindow()
    screen = QGuiApplication.primaryScreen().availableGeometry()
    assert overlay.geometry().bottom() < screen.bottom() and overlay.geometry().center().y() > screen.center().y()
    image = overlay.grab().toImage()
    assert image.pixelColor(overlay.width() // 2, 3).alpha() > 0  # the box is drawn
    qtbot.waitUntil(lambda: not overlay.isVisible(),
                    timeout=overlay_module.FINAL_SHOWN_MS + overlay_module.FADE_MS + 2000)


def test_history_window_searches_copies_exports_and_deletes(qtbot, qapp, tmp_path, monkeypatch):
    import json

    from parakeet_desktop.history.audio import AudioShelf
    from parakeet_desktop.ui.history_window import HistoryWindow

    history = History(tmp_path / "history.sqlite3")
    first = history.add("first words", 1.5, "model-a")
    second = history.add("zweite Wörter", 2.0, "model-a")
    history.add("third words", 2.5, "model-a")
    history.mark(second, False, "focus moved")
    shelf = AudioShelf(tmp_path / "audio", history)
    assert shelf.store(first, np.zeros(16000, np.float32))
    audio = shelf.path(history.get(first))
    window = HistoryWindow(history, shelf)
    qtbot.addWidget(window)
    window.show()
    assert window.table.rowCount() == 3
    assert window.table.item(1, 2).text() == "zweite Wörter" and window.table.item(1, 3).text() == "no"
    window.search.setText("words")
    assert [window.table.item(r, 2).text() for r in range(window.table.rowCount())] == ["third words", "first words"]
    window.table.selectRow(1)
    window.copy_selected()
    assert QGuiApplication.clipboard().text() == "first words"
    window.delete_selected()
    assert first not in [e.id for e in History(tmp_path / "history.sqlite3").recent()]
    assert window.table.rowCount() == 1 and not window.table.selectedIndexes()
    window.delete_selected()  # nothing selected: a second click deletes nothing
    assert len(history.recent()) == 2
    assert window.buttons["undo"].isVisible()
    window.undo_delete()  # it comes back as it was
    assert [(e.id, e.text) for e in history.recent(containing="first")] == [(first, "first words")]
    assert not window.buttons["undo"].isVisible() and window.table.rowCount() == 2
    assert audio.exists() and history.get(first).audio == audio.name
    window.table.selectRow(1)
    window.delete_selected()
    assert len(history.recent()) == 2 and audio.exists()  # until the delete cannot be undone
    window.hide()
    assert not audio.exists()
    window.show()
    window.table.selectRow(0)
    window.play_selected()  # no audio kept for it
    assert "no audio" in window.message.text()
    window.search.setText("")
    exported = tmp_path / "out" / "history.json"
    window.export_to(exported, window.entries)
    assert [item["text"] for item in json.loads(exported.read_text())] == ["zweite Wörter", "third words"]
    window.export_to(tmp_path / "missing" / "deep" / "x.txt", window.entries)
    assert "Exported 2" in window.message.text()
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    window.export_to(tmp_path / "ro" / "x.csv", window.entries)
    if not os.access(tmp_path / "ro", os.W_OK):  # root writes anywhere
        assert "Could not export" in window.message.text()
    monkeypatch.setattr(window, "confirm", lambda question: False)
    window.delete_all()
    assert len(history.recent()) == 2
    monkeypatch.setattr(window, "confirm", lambda question: "cannot be undone" in question)
    window.delete_all()
    assert history.recent() == [] and window.table.rowCount() == 0


def test_a_runtime_folder_too_deep_for_a_socket_still_gets_the_commands(qtbot, qapp, app_dirs, monkeypatch):
    """A Unix socket's path holds about a hundred bytes; in a deeper runtime folder (a test
    runner's, a container's) the app listened nowhere and stopped with a traceback."""
    from parakeet_desktop.ui.control_server import ControlServer

    deep = app_dirs / ("runtime-" * 8) / ("folder-" * 8)
    deep.mkdir(parents=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert len(str(deep / "parakeet-desktop-root.sock")) > 107
    server = ControlServer(lambda command: 'ok {"state": "ready"}')
    server.listen()
    try:
        answers = []
        asker = threading.Thread(target=lambda: answers.append(control.send("status")))
        asker.start()
        qtbot.waitUntil(lambda: bool(answers), timeout=10000)
        asker.join()
        assert answers == ['ok {"state": "ready"}']
        assert len(control.server_name()) <= control.protocol.MAX_SOCKET_PATH
    finally:
        server.close()


def test_one_instance_and_control_commands(qtbot, qapp, app_dirs):
    from parakeet_desktop.ui.control_server import AlreadyRunning, ControlServer

    received = []

    def handle(command):
        received.append(command)
        return "ok" if command != "status" else 'ok {"state": "ready"}'

    server = ControlServer(handle)
    server.listen()
    answers = {}

    def ask():
        for command in ("toggle", "status", "bogus"):
            try:
                answers[command] = control.send(command)
            except control.NotRunning as exc:
                answers[command] = f"not running: {exc}"

    asker = threading.Thread(target=ask)
    asker.start()
    qtbot.waitUntil(lambda: len(answers) == 3, timeout=10000)
    asker.join()
    assert answers["toggle"] == "ok" and answers["status"] == 'ok {"state": "ready"}'
    assert answers["bogus"].startswith("error: unknown command")
    assert received == ["toggle", "status"]

    second = ControlServer(handle)
    outcome = {}

    def listen_again():
        try:
            second.listen()
        except AlreadyRunning:
            outcome["refused"] = True

    # The check asks the first instance, which answers on this (the GUI) thread.
    checker = threading.Thread(target=lambda: outcome.setdefault("status", control.send("status")))
    checker.start()
    qtbot.waitUntil(lambda: "status" in outcome, timeout=10000)
    checker.join()
    server.close()
    with pytest.raises(control.NotRunning):
        control.send("status", timeout=1.0)
    listen_again()  # nobody answers now: the name is free again
    assert "refused" not in outcome
    second.close()


def test_settings_round_trip_and_a_corrupt_file_is_kept_aside(app_dirs):
    settings = config.Settings(hotkey="f9", mode="handsfree", replacements=[["new line", "\n"]],
                               overlay_opacity=0.6, microphone="USB Headset")
    config.save_settings(settings)
    loaded, warnings = config.load_settings()
    assert loaded == settings and warnings == []
    config.settings_path().write_text("{ not json", "utf-8")
    loaded, warnings = config.load_settings()
    assert loaded == config.Settings()
    assert "defaults" in warnings[0]
    kept = list(config.config_dir().glob("settings.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text("utf-8") == "{ not json"
    config.settings_path().write_text('{"schema": 1, "mode": "sometimes", "sounds": false}', "utf-8")
    loaded, warnings = config.load_settings()
    assert loaded.mode == "ptt" and loaded.sounds is False and "mode" in warnings[0]


@pytest.fixture(scope="module")
def sentence():
    return held_out_utterances(1)[0]


def test_the_app_dictates_hands_free_into_the_focused_window(qtbot, qapp, app_dirs, sentence):
    """The whole app offscreen: model loads on the engine thread, the control window shows the
    states, a spoken sentence comes back as captions, lands in the history, and is pasted."""
    from parakeet_desktop.ui.app import DesktopApp
    from parakeet_desktop.ui.status import ControlWindow

    text, speech = sentence
    recording = np.concatenate([silence(2.0), speech, silence(1.5), silence(2.0)])
    keyboard = PastingKeyboard()
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", mode="handsfree", sounds=False,
                               hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=recording, realtime=True),
                     keyboard=keyboard)
    states, captions = [], []

    def seen(event) -> None:
        if isinstance(event, StateChanged):
            states.append(event.state)
        elif isinstance(event, Partial):
            captions.append(event.text)

    app.worker.engine_event.connect(seen)
    app.start()
    try:
        assert isinstance(app.status, ControlWindow) and app.status.isVisible()
        assert app.state == "loading"
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
        # Every view of "ready" says how to dictate; the first ready teaches it once.
        hint = "Press F9 to start dictating, and again to stop."
        assert hint in app.status.detail and app.app_menu.status.text() == hint
        assert "Ready to dictate" in app.status.message and (config.data_dir() / "hotkey-taught").exists()
        app.menu.aboutToShow.emit()  # the menu opens
        assert not app.app_menu.copy_last.isEnabled() and app.app_menu.toggle.isEnabled()
        app.toggle()
        qtbot.waitUntil(lambda: bool(keyboard.received), timeout=30000)
        assert word_error_rate([text], [keyboard.received]) <= 0.2
        assert keyboard.received.endswith(" ")  # the trailing space setting
        assert captions and app.overlay.isVisible() or app.overlay.text
        entries = app.history.recent()
        assert len(entries) == 1 and entries[0].text == keyboard.received.strip() and entries[0].delivered
        assert "listening" in states
        qtbot.waitUntil(lambda: app.state == "ready", timeout=30000)
        app.menu.aboutToShow.emit()
        assert app.app_menu.copy_last.isEnabled() and hint in app.status.detail
        # Its audio is kept (and the spool gone); a wrong text is redone from it.
        qtbot.waitUntil(lambda: app.history.recent()[0].audio is not None, timeout=60000)
        assert not list((config.data_dir() / "spool").glob("*.s16"))
        app.history.set_text(entries[0].id, "a wrong transcript", "some model")
        window = app.keeper.show()
        window.table.selectRow(0)
        window.transcribe_selected_again()
        qtbot.waitUntil(lambda: "Transcribed again" in window.message.text(), timeout=120000)
        assert "It was: “a wrong transcript”" in window.message.text()
        assert word_error_rate([text], [app.history.recent()[0].text]) <= 0.2
        assert window.table.item(0, 2).text() == app.history.recent()[0].text
        report = app.status_report()
        assert report["ready_after"] > report["shown_after"] >= 0
    finally:
        close_app(app)


def test_dropped_files_are_transcribed_shown_and_exported(qtbot, qapp, app_dirs, tmp_path):
    import soundfile
    import srt

    from parakeet_desktop.ui.app import DesktopApp

    good = []
    for n, (_, speech) in enumerate(held_out_utterances(3)[1:]):
        good.append(tmp_path / f"memo {n}.wav")
        soundfile.write(good[-1], np.concatenate([speech, silence(0.5), speech]), 16000)
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"not really audio")
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=silence(120), realtime=True),
                     keyboard=PastingKeyboard())
    app.start()
    window = app.file_window
    threads = []
    for name in ("progress", "finished"):
        def on_gui_thread(*args, _real=getattr(window, name)):  # noqa: B008 - bound per name, on purpose
            threads.append(QThread.currentThread() is qapp.thread())
            return _real(*args)
        setattr(window, name, on_gui_thread)
    try:
        app.show_files()
        drop_files(window, [good[0], broken, good[1]])  # before the model is ready: they wait for it
        assert window.queue.rowCount() == 3
        assert window.queue.item(0, 1).text() == "Waiting…"
        qtbot.waitUntil(lambda: all(window.queue.item(r, 1).text() not in ("Waiting…", "Working…")
                                    for r in range(3)), timeout=120000)
        statuses = [window.queue.item(r, 1).text() for r in range(3)]
        assert statuses[0] == f"Done — {good[0].stem}.txt, {good[0].stem}.srt"
        assert statuses[1].startswith("Error: ") and "decoded" in statuses[1]
        assert statuses[2].startswith("Done")
        assert window.queue.cellWidget(0, 2).value() == window.queue.cellWidget(0, 2).maximum()
        assert window.queue.cellWidget(1, 2) is None and not window.cancel_button.isEnabled()
        subtitles = list(srt.parse((tmp_path / f"{good[0].stem}.srt").read_text("utf-8")))
        text = (tmp_path / f"{good[0].stem}.txt").read_text("utf-8").strip()
        assert subtitles and " ".join(s.content for s in subtitles).split() == text.split()
        window.queue.selectRow(0)
        assert window.segments.count() >= 1
        first = window.segments.item(0)
        window._copy_segment(first)
        assert QGuiApplication.clipboard().text() == first.data(Qt.ItemDataRole.UserRole)
        assert first.text().startswith("00:0")
        assert threads and all(threads)  # widgets were only touched on the GUI thread
    finally:
        close_app(app)
        window.hide()


def test_a_missing_microphone_shows_as_needing_attention_until_it_comes(qtbot, qapp, app_dirs):
    from parakeet_desktop.ui.app import DesktopApp
    from parakeet_desktop.ui.status import ControlWindow

    device = FileSoundDevice(samples=silence(60), realtime=True, missing=True)
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=device, keyboard=PastingKeyboard())
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state == "error", timeout=120000)
        assert isinstance(app.status, ControlWindow) and not app.status.dictate_enabled
        assert "No microphone found" in app.status.detail
        device.missing = False
        qtbot.waitUntil(lambda: app.state == "ready", timeout=15000)
        assert app.status.dictate_enabled
    finally:
        close_app(app)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_local_api_serves_the_apps_own_model_and_dictation_goes_first(qtbot, qapp, app_dirs, sentence, tmp_path):
    """With "Local API" on, a program's request is answered by the engine thread's model (one
    model in memory); a long request in flight waits while the user dictates, and the
    ``transcribe`` command uses the running app instead of loading a model; with streams allowed
    without the token, an eaRS client is served."""
    import asyncio
    import subprocess
    import sys

    import httpx
    import openai
    import soundfile

    from parakeet_desktop.ui.app import DesktopApp
    from support.service import ears_client

    text, speech = sentence
    recording = np.concatenate([silence(2.0), speech, silence(3.5)])
    keyboard = PastingKeyboard()
    port = _free_port()
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", mode="handsfree", sounds=False,
                               hotkey="f9", api_enabled=True, api_port=port, api_streams_without_token=True)
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=recording, realtime=True),
                     keyboard=keyboard)
    app.start()
    url = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{url}/health").json()["status"] in ("loading", "ready")  # up before the model
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
        assert app.local_api.link.engine is app.worker.engine  # the engine thread's own model
        token = (app_dirs / "config" / "api-token").read_text().strip()
        api = openai.OpenAI(base_url=f"{url}/v1", api_key=token, timeout=600)

        long = tmp_path / "long.wav"
        soundfile.write(long, np.tile(np.concatenate([speech, silence(1.0)]), 200), 16000)
        request = {}

        def transcribe_long():
            request["text"] = api.audio.transcriptions.create(model="x", file=long).text
            request["done_at"] = time.monotonic()

        worker = threading.Thread(target=transcribe_long)
        worker.start()
        qtbot.waitUntil(lambda: httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"}).json()
                        ["queue_depth"] == 1, timeout=60000)
        app.toggle()
        qtbot.waitUntil(lambda: bool(keyboard.received), timeout=60000)
        final_at = time.monotonic()
        assert word_error_rate([text], [keyboard.received]) <= 0.2
        assert "done_at" not in request  # the request waits while the user dictates
        app.toggle()
        qtbot.waitUntil(lambda: "done_at" in request, timeout=300000)
        worker.join()
        assert request["done_at"] > final_at and len(request["text"].split()) > 50

        result = subprocess.run([sys.executable, "-m", "parakeet_desktop", "transcribe", str(long),
                                 "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert "Using the running app's speech-tdt.nemo" in result.stderr and "Loading" not in result.stderr
        assert (tmp_path / "out" / "long.txt").read_text().split() == request["text"].split()
        assert app.status_report()["local_api"] == url

        # An eaRS client, which cannot send the token: allowed by the setting, from this computer.
        from scipy.signal import resample_poly

        ears = asyncio.run(ears_client(f"ws://127.0.0.1:{port}/", resample_poly(
            np.concatenate([speech, silence(0.5)]), 3, 2).astype(np.float32), realtime=False))
        finals = [m["text"] for m in ears["messages"] if m["type"] == "final"]
        assert ears["close_code"] == 1000 and word_error_rate([text], finals) <= 0.4
        assert httpx.get(f"{url}/v1/models").status_code == 401  # the HTTP API still needs it
    finally:
        app.local_api.stop()
        close_app(app)
    with pytest.raises(httpx.ConnectError):  # stopped with the app
        httpx.get(f"{url}/health", timeout=5)


def test_the_file_window_never_exports_over_a_file_unless_told(qtbot, qapp, tmp_path):
    from parakeet_desktop.engine.recognize.transcript import Segment, Transcript, Word
    from parakeet_desktop.ui.file_window import FileWindow

    window = FileWindow()
    qtbot.addWidget(window)
    for box in window.formats.values():
        box.setChecked(box.text() == "TXT")
    (tmp_path / "talk.txt").write_text("corrected by hand\n")
    sources = [tmp_path / "talk.wav", tmp_path / "talk.flac"]
    for n, source in enumerate(sources):
        window.add_files([source])
        words = (Word(f"take{n}", 0.0, 0.5),)
        window.finished(source, Transcript(str(source), 1.0, [Segment(0.0, 0.5, f"take{n}", words)]), None)
    statuses = [window.queue.item(r, 1).text() for r in range(2)]
    assert statuses == ["Done — talk (2).txt", "Done — talk (3).txt"]
    assert (tmp_path / "talk.txt").read_text() == "corrected by hand\n"
    window.overwrite.setChecked(True)
    window.finished(sources[0], Transcript(str(sources[0]), 1.0, [Segment(0.0, 0.5, "again", ())]), None)
    assert (tmp_path / "talk.txt").read_text() == "again\n"


def test_an_export_folder_full_or_read_only_fails_that_row_alone(qtbot, qapp, tmp_path):
    """Files whose export folder is full (a small tmpfs with two pages left) or read-only (a
    tmpfs remounted read-only): their rows say why, every format either written whole or named as
    failed, no partial files; a file exported elsewhere is done as usual."""
    import subprocess

    from parakeet_desktop.engine.recognize.transcript import Segment, Transcript, Word
    from parakeet_desktop.ui.file_window import FileWindow
    from support.disk import fill, small_disk

    window = FileWindow()
    qtbot.addWidget(window)
    for box in window.formats.values():
        box.setChecked(True)
    words = tuple(Word(f"word{n}", n * 0.4, n * 0.4 + 0.3) for n in range(300))
    segments = [Segment(w.start, w.end + 3.6, " ".join(x.text for x in words[i:i + 10]), words[i:i + 10])
                for i, w in enumerate(words) if i % 10 == 0]

    def finish(source: Path) -> str:
        window.add_files([source])
        window.finished(source, Transcript(str(source), 120.0, segments), None)
        return window.queue.item(window.rows[source], 1).text()

    with small_disk(tmp_path / "full", "64k") as full:
        fill(full)
        filler = full / "filler"
        with open(filler, "r+b") as f:
            f.truncate(max(0, filler.stat().st_size - 8192))  # two pages free: the small formats fit
        status = finish(full / "talk.wav")
        assert "could not write" in status and "No space left on device" in status, status
        written = {p.name for p in full.iterdir()} - {"filler"}
        for fmt in ("txt", "srt", "vtt", "json"):
            assert (f"talk.{fmt}" in written) != (f"{fmt}: " in status.split("could not write")[1])
        assert not [name for name in written if name.startswith(".")]  # no partial files
    with small_disk(tmp_path / "ro", "64k") as read_only:
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(read_only)], capture_output=True)
        assert remounted.returncode == 0
        status = finish(read_only / "memo.wav")
        assert status.startswith("Transcribed, not exported — could not write txt: Read-only file system")
    elsewhere = tmp_path / "fine" / "note.wav"
    elsewhere.parent.mkdir()
    assert finish(elsewhere) == "Done — note.txt, note.srt, note.vtt, note.json"


def test_bad_settings_and_a_damaged_history_are_all_shown_and_the_app_starts(qtbot, qapp, app_dirs,
                                                                                      tiny_nemo):
    import json

    from parakeet_desktop.ui.app import DesktopApp

    config.settings_path().parent.mkdir(parents=True, exist_ok=True)
    config.settings_path().write_text(json.dumps({
        "schema": 1, "model": str(tiny_nemo), "device": "cpu", "sounds": False, "hotkey": "f9",
        "vad_aggressiveness": 99, "pause_ms": -5, "overlay_width": -3, "overlay_opacity": "high",
        "api_port": 0}), "utf-8")
    settings, warnings = config.load_settings()
    assert (settings.vad_aggressiveness, settings.pause_ms, settings.overlay_width, settings.api_port) == (
        2, 800, 0.5, config.DEFAULT_API_PORT)
    assert len(warnings) == 5 and "from 0 to 3" in warnings[0]
    config.data_dir().mkdir(parents=True, exist_ok=True)
    (config.data_dir() / "history.sqlite3").write_bytes(b"not a database at all" * 100)  # damaged too
    app = DesktopApp(settings, warnings, use_tray=False, sd=FileSoundDevice(samples=silence(60), realtime=True),
                     keyboard=PastingKeyboard())
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)  # not "loading" for ever
        shown = app.status.message
        assert all(name in shown for name in ("vad_aggressiveness", "pause_ms", "overlay_width",
                                              "overlay_opacity", "api_port"))
        assert "history" in shown and "kept as history.sqlite3.damaged-" in shown
    finally:
        close_app(app)


def test_an_engine_that_cannot_start_says_why(qtbot, qapp, app_dirs, tiny_nemo):
    from parakeet_desktop.ui.app import DesktopApp

    settings = config.Settings(model=str(tiny_nemo), device="cpu", sounds=False, hotkey="f9",
                               vad_aggressiveness=7)  # not from the file: straight to the engine
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=silence(60), realtime=True),
                     keyboard=PastingKeyboard())
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state == "error", timeout=120000)
        assert "Dictation could not start" in app.status.detail + app.status.message
        assert "aggressiveness" in app.status.detail + app.status.message
    finally:
        close_app(app)


def test_a_full_disk_never_stands_between_the_user_and_their_words(qtbot, qapp, tmp_path):
    """The history cannot be written (its disk is full): the text is typed all the same, the
    user is told it was not saved, and "paste last" still has it."""
    from parakeet_desktop.desktop.delivery import TextDelivery
    from parakeet_desktop.ui.clipboard import app_clipboard, qt_later
    from support.disk import fill, small_disk

    with small_disk(tmp_path / "data") as disk:
        history = History(disk / "history.sqlite3")
        keyboard = PastingKeyboard()
        delivery = TextDelivery(config.Settings(injection="type"), history, keyboard, app_clipboard(), qt_later)
        fill(disk)
        text, typed, unsaved = delivery.final("the words that must not vanish " * 2000, 3.0, "m")
        assert typed is not None and typed.ok
        assert keyboard.received.startswith("the words that must not vanish")
        assert unsaved and "not saved" in unsaved and "Paste last" in unsaved
        keyboard.received = ""
        delivery.paste_last()
        assert keyboard.received.strip() == text


def test_two_launches_at_the_same_instant_give_one_app(app_dirs, tiny_nemo):
    """Both find nobody answering; exactly one gets the instance lock and runs, the other hands
    over and exits; the survivor answers ``status``."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "parakeet_desktop", "--no-tray", "--model", str(tiny_nemo), "--device", "cpu"]
    launches = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while all(p.poll() is None for p in launches) and time.monotonic() < deadline:
            time.sleep(0.1)
        finished = [p for p in launches if p.poll() is not None]
        assert len(finished) == 1, "one launch hands over and exits"
        assert finished[0].returncode == 0 and "already running" in finished[0].stderr.read()
        survivor = next(p for p in launches if p is not finished[0])
        status = None
        while status is None and time.monotonic() < deadline:
            try:
                status = control.send("status", timeout=5.0)
            except control.NotRunning:
                time.sleep(0.2)
        assert status is not None and status.startswith("ok ")
        import json

        assert json.loads(status[3:])["pid"] == survivor.pid
        time.sleep(1.0)
        assert survivor.poll() is None  # still running
    finally:
        for p in launches:
            if p.poll() is None:
                p.terminate()
                p.wait(30)


_LISTEN = """
import sys, time
from pathlib import Path
from PySide6.QtCore import QCoreApplication
from parakeet_desktop.ui.control_server import AlreadyRunning, ControlServer
app = QCoreApplication([])
server = ControlServer(lambda command: "ok")
marker, first = Path(sys.argv[1]), sys.argv[2] == "first"
if not first:
    while not marker.exists():
        time.sleep(0.01)
try:
    server.listen()
except AlreadyRunning:
    print("refused", flush=True)
    sys.exit(0)
print("listening", flush=True)
if first:
    marker.touch()
    time.sleep(4)  # starting up: the GUI thread answers nobody for a while
"""


def test_a_second_launch_while_the_first_is_busy_starting_cannot_take_over(app_dirs, tmp_path):
    """The first instance listens but its GUI thread is still busy starting (it answers nobody
    for seconds); a second launch must not take the socket from it and run beside it."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "first-is-listening"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs = [subprocess.Popen([sys.executable, "-c", _LISTEN, str(marker), role], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for role in ("first", "second")]
    outcomes = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert outcomes == ["listening", "refused"]


_DICTATE_UNTIL_KILLED = """
import sys
from pathlib import Path
import soundfile
from parakeet_desktop.engine.audio.file_device import FileSoundDevice
from parakeet_desktop.engine.live.dictation import LiveSettings, Mode
from parakeet_desktop.engine.live.loop import LiveEngine
from parakeet_desktop.engine.model.loader import load_model
model = load_model(sys.argv[1], "cpu")
samples, _ = soundfile.read(sys.argv[2], dtype="float32")
engine = LiveEngine(model, LiveSettings(spool_dir=Path(sys.argv[3])), lambda event: None,
                    sd=FileSoundDevice(samples=samples, realtime=True))
engine.start(Mode.PUSH_TO_TALK)
engine.run()
"""


def test_an_utterance_cut_off_by_kill_9_is_recovered_into_the_history(qtbot, qapp, app_dirs, sentence, tmp_path):
    """A dictation engine is killed (SIGKILL) in the middle of a push-to-talk utterance; the next
    start of the app transcribes what was spooled and keeps it in the history as recovered."""
    import os
    import signal
    import subprocess
    import sys

    import soundfile

    from parakeet_desktop.ui.app import DesktopApp

    text, speech = sentence
    recording = tmp_path / "talk.wav"
    soundfile.write(recording, np.concatenate([silence(0.5), speech, silence(60.0)]), 16000)
    spool = config.data_dir() / "spool"
    dictating = subprocess.Popen([sys.executable, "-c", _DICTATE_UNTIL_KILLED, str(SPEECH_MODEL), str(recording),
                                  str(spool)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sizes = []

        def spooled_and_still() -> bool:  # the sentence is on disk and the key is still held
            files = list(spool.glob("utterance-*.s16"))
            sizes.append(files[0].stat().st_size if files else 0)
            return len(sizes) > 30 and sizes[-1] >= 2 * len(speech) * 0.9 and sizes[-1] == sizes[-30]

        qtbot.waitUntil(spooled_and_still, timeout=120000)
        assert dictating.poll() is None
        os.kill(dictating.pid, signal.SIGKILL)
        dictating.wait(30)
    finally:
        if dictating.poll() is None:
            dictating.kill()
    assert len(list(spool.glob("utterance-*.s16"))) == 1

    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=silence(60), realtime=True),
                     keyboard=PastingKeyboard())
    app.start()
    try:
        qtbot.waitUntil(lambda: bool(app.history.recent()), timeout=120000)
        entry = app.history.recent()[0]
        assert word_error_rate([text], [entry.text]) <= 0.3
        assert not entry.delivered and "recovered" in entry.problem
        qtbot.waitUntil(lambda: not list(spool.glob("utterance-*")), timeout=60000)
        assert app.history.recent()[0].audio is not None  # its audio moved from the spool to the history
        assert "Recovered" in app.status.message
    finally:
        close_app(app)


def test_an_unwritable_settings_folder_keeps_settings_for_the_session_and_says_so(qtbot, qapp, app_dirs,
                                                                                 monkeypatch):
    from parakeet_desktop.ui.app import DesktopApp

    blocker = app_dirs / "not-a-folder"
    blocker.write_text("a file where the settings folder should be")
    monkeypatch.setenv("PARAKEET_DESKTOP_CONFIG_DIR", str(blocker / "parakeet-desktop"))
    settings, warnings = config.load_settings()
    problem = config.unwritable()
    assert settings == config.Settings() and warnings == []
    assert problem and "changes last until the app quits" in problem
    app = DesktopApp(settings, [problem], use_tray=False, sd=FileSoundDevice(samples=silence(5), realtime=True),
                     keyboard=PastingKeyboard())
    try:
        app.apply_settings(dataclasses.replace(settings, mode="handsfree", trailing_space=False))
        assert app.settings.mode == "handsfree" and app.mode == "handsfree"  # in effect all the same
        assert "Could not save the settings" in app.status.message
    finally:
        app.status.hide()


def test_a_crash_mid_paste_gives_the_user_their_clipboard_back_at_the_next_start(qtbot, qapp, app_dirs):
    """The app dies (kill -9) after putting the dictated text on the clipboard and before putting
    the user's back: the dictated text is in the history, and the next start restores what the
    user had copied and says so."""
    import signal
    import subprocess
    import sys

    from parakeet_desktop.ui.app import DesktopApp

    script = """
import os, signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from parakeet_desktop.settings import config
from parakeet_desktop.history.store import History
from parakeet_desktop.desktop.delivery import TextDelivery
from parakeet_desktop.ui.clipboard import app_clipboard, qt_later

class DiesAtTheKeystroke:
    def chord(self, *keys):
        os.kill(os.getpid(), signal.SIGKILL)

app = QApplication([])
QGuiApplication.clipboard().setText("what the user copied: Grüße")
delivery = TextDelivery(config.Settings(injection="paste"), History(config.data_dir() / "history.sqlite3"),
                        DiesAtTheKeystroke(), app_clipboard(), qt_later)
delivery.final("the dictated words", 1.0, "model")
"""
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    QGuiApplication.clipboard().clear()  # what the crash left: our text went with the process
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=silence(5.0)),
                     keyboard=PastingKeyboard())
    app.start()
    try:
        assert QGuiApplication.clipboard().text() == "what the user copied: Grüße"
        assert "what you had copied is back on the clipboard" in app.status.message
        assert [e.text for e in app.history.recent()] == ["the dictated words"]
        assert not list(config.data_dir().glob("clipboard-*"))
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)  # a loading thread cannot stop
    finally:
        close_app(app)
    # A paste that finished leaves nothing behind to restore at the next start.
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("copied later")
    injector = app.delivery.injector
    injector.later = later
    assert injector.deliver("more words").ok
    qtbot.waitUntil(lambda: clipboard.text() == "copied later", timeout=RESTORE_AFTER_MS + 5000)
    assert not list(config.data_dir().glob("clipboard-*"))


def test_one_state_enum_drives_every_view_and_a_tray_click_opens_the_history(qtbot, qapp, app_dirs):
    from PySide6.QtWidgets import QSystemTrayIcon

    from parakeet_desktop.ui.app import DesktopApp
    from parakeet_desktop.ui.app_state import AppState
    from parakeet_desktop.ui.status import ControlWindow

    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=True, sd=FileSoundDevice(samples=silence(5)), keyboard=PastingKeyboard())
    window = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=silence(5)),
                        keyboard=PastingKeyboard())
    try:
        assert app.state is AppState.LOADING
        app.status.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)  # a left click
        assert app.keeper.window is not None and app.keeper.window.isVisible()
        assert isinstance(window.status, ControlWindow)
        widths = set()
        for state in AppState:
            for view in (app, window):
                view.report.set_state(state, "saved as /home/someone/.local/share/parakeet-desktop/"
                                       "failed-utterances/utterance-2026-11-22T10-00-00.wav"
                                       * (state is AppState.ERROR))
            assert state.label in app.status.tooltip and state.label in window.status.title
            assert app.app_menu.toggle.isEnabled() == state.can_dictate == window.status.dictate_enabled
            widths.add(window.status.width())
        assert widths == {window.status.width()}  # one width whatever the state says
        assert window.status._detail.text().count("\u200b") >= 4  # the path wraps at its folders
        assert app.status_report()["state"] == "error" and app.app_menu.status.text().startswith("Needs attention")
        # The model rests while idle and wakes for dictation: the tray says so, dictation stays offered.
        app.report.set_state(AppState.READY)
        app.worker.engine_event.emit(ModelResting(True, 0.4))
        assert app.status_report()["state"] == "resting" and "Resting" in app.status.tooltip
        assert app.app_menu.toggle.isEnabled()
        app.report.set_state(AppState.LISTENING)
        app.worker.engine_event.emit(WakingUp())
        assert "Waking up" in app.overlay.text
        app.worker.engine_event.emit(ModelResting(False, 1.2))
        assert app.state is AppState.LISTENING  # listening goes on; idle again is plain ready
        app.worker.engine_event.emit(StateChanged(SessionState.IDLE, Mode.PUSH_TO_TALK))
        assert app.state is AppState.READY
    finally:
        for view in (app, window):
            view.keeper.close()
            view.control.close()
            view.status.hide()
