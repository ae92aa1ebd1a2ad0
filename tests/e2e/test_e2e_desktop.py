"""End to end, as a person uses the app: a real X server (Xvfb) with a system tray
(trayer), a PulseAudio virtual microphone fed with espeak-ng speech, a plain text field
with focus; the hotkey is held with xdotool while the sentence plays, then released.

Artefacts (screenshots) are kept in ``test-artifacts/`` at the top of the checkout.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest
import soundfile

from support.dictation import loaded
from support.models import SPEECH_MODEL, STREAMING_MODEL
from support.speech import held_out_utterances, word_error_rate
from tools.desktop_session import ROOT, TOOLS, Desktop
from tools.waiting import wait_for

ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or any(shutil.which(t) is None for t in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (tools/run-tests installs them)")


@pytest.fixture
def desktop(tmp_path):
    session = Desktop(tmp_path)
    try:
        session.start()
        yield session
    finally:
        session.stop()


def _status(desktop: Desktop) -> dict | None:
    done = desktop.run(sys.executable, "-m", "parakeet_desktop", "status", cwd=ROOT)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _loaded(desktop: Desktop, app: subprocess.Popen) -> dict:
    return loaded(desktop.env, app, desktop.folder / "app.log")


def _app_ready_with_a_field(desktop: Desktop, tmp_path, *field_options: str, **settings) -> tuple:
    """The app started with *settings* (over the tests' usual ones) and loaded, a text field
    focused; the file the field writes its text to, and the field's window."""
    typed = tmp_path / "typed.txt"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps({
        "schema": 1, "model": str(SPEECH_MODEL), "device": "cpu", "hotkey": "ctrl+alt+space",
        "mode": "ptt", "microphone": "pulse", "sounds": False, "trailing_space": False, **settings}), "utf-8")
    desktop.spawn(sys.executable, str(ROOT / "tests" / "programs" / "text_field.py"), str(typed), *field_options,
                  log="field")
    field = wait_for(lambda: desktop.run("xdotool", "search", "--name", "Dictation target").stdout.split(),
                 30, "the text field window")[0]
    _loaded(desktop, desktop.spawn(sys.executable, "-m", "parakeet_desktop", log="app"))
    desktop.run("xdotool", "windowactivate", "--sync", field)
    desktop.run("xdotool", "windowfocus", "--sync", field)
    return typed, field


def test_hold_the_hotkey_speak_release_and_the_words_are_typed(desktop, tmp_path):
    text, speech = held_out_utterances(3)[2]
    spoken = tmp_path / "sentence.wav"
    soundfile.write(spoken, speech, 16000, subtype="PCM_16")
    typed = tmp_path / "typed.txt"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps({
        "schema": 1, "model": str(SPEECH_MODEL), "device": "cpu", "hotkey": "ctrl+alt+space",
        "mode": "ptt", "microphone": "pulse", "sounds": False, "trailing_space": False}), "utf-8")

    desktop.spawn(sys.executable, str(ROOT / "tests" / "programs" / "text_field.py"), str(typed), log="field")
    field = wait_for(lambda: desktop.run("xdotool", "search", "--name", "Dictation target").stdout.split(),
                  30, "the text field window")[0]
    app = desktop.spawn(sys.executable, "-m", "parakeet_desktop", log="app")
    status = _loaded(desktop, app)
    assert status["tray"], "trayer provides a system tray: the app should use it"
    assert status["state"] == "ready"
    # A second launch hands over to the first and exits.
    second = desktop.run(sys.executable, "-m", "parakeet_desktop", cwd=ROOT)
    assert second.returncode == 0 and "already running" in second.stderr

    desktop.run("xdotool", "windowactivate", "--sync", field)
    desktop.run("xdotool", "windowfocus", "--sync", field)
    desktop.run("xdotool", "keydown", "ctrl+alt+space")
    wait_for(lambda: (_status(desktop) or {}).get("state") == "listening", 10, "listening to start")
    player = subprocess.Popen(["paplay", "-d", "speaker", str(spoken)], env=desktop.env)
    caption = wait_for(lambda: (_status(desktop) or {}).get("caption"), 20, "a caption while speaking")
    shot = desktop.screenshot(ARTIFACTS / "overlay-captions.png")
    # A key held down auto-repeats: X11 sends release and press again a moment apart.
    desktop.run("xdotool", "keyup", "space", "keydown", "space")
    time.sleep(0.3)
    assert (_status(desktop) or {}).get("state") == "listening"
    player.wait(30)
    time.sleep(0.6)
    desktop.run("xdotool", "keyup", "ctrl+alt+space")

    result = wait_for(lambda: typed.exists() and typed.read_text("utf-8"), 60, "the words in the text field")
    # The hotkey itself never reached the text field (no stray space): the app holds it.
    assert result == result.strip()
    assert word_error_rate([text], [result]) <= 0.2, (text, result)
    assert caption and shot.stat().st_size > 10_000
    with sqlite3.connect(tmp_path / "data" / "history.sqlite3") as db:
        rows = db.execute("SELECT text, delivered FROM utterances").fetchall()
    assert rows == [(result, 1)]
    desktop.screenshot(ARTIFACTS / "after-dictation.png")
    assert app.poll() is None
    # Quit from outside (the tray's Quit does the same): the process ends promptly, cleanly.
    asked = time.monotonic()
    done = desktop.run(sys.executable, "-m", "parakeet_desktop", "quit", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert app.wait(30) == 0
    print(f"quit took {time.monotonic() - asked:.2f} s (with the command's own start)")


def test_dictation_with_a_streaming_model_types_its_streamed_words(desktop, tmp_path):
    """The committed cache-aware fixture, once, as a user would run it: captions while the
    sentence plays, its words typed at the release, from the streamed text (no second pass)."""
    text, speech = held_out_utterances(4)[3]
    spoken = tmp_path / "sentence.wav"
    soundfile.write(spoken, speech, 16000, subtype="PCM_16")
    typed, _ = _app_ready_with_a_field(desktop, tmp_path, model=str(STREAMING_MODEL),
                                       latency="fast")
    desktop.run("xdotool", "keydown", "ctrl+alt+space")
    wait_for(lambda: (_status(desktop) or {}).get("state") == "listening", 30, "listening to start")
    player = subprocess.Popen(["paplay", "-d", "speaker", str(spoken)], env=desktop.env)
    caption = wait_for(lambda: (_status(desktop) or {}).get("caption"), 20, "a caption while speaking")
    desktop.screenshot(ARTIFACTS / "overlay-streaming-model.png")
    player.wait(30)
    time.sleep(0.6)
    desktop.run("xdotool", "keyup", "ctrl+alt+space")
    result = wait_for(lambda: typed.exists() and typed.read_text("utf-8"), 60, "the words in the text field")
    assert caption and word_error_rate([text], [result]) <= 0.25, (text, result)


def test_spoken_commands_scratch_and_break_lines_in_the_focused_field(desktop, tmp_path):
    """Say a sentence, another ending in "scratch that", "scratch that" alone, a sentence, "new
    line", a sentence: the text box holds exactly the last two sentences on two lines, as they
    were recognised, and the history keeps all six things said."""
    from tools.fixture_corpus import voice_for
    from tools.speech import speak

    sentences = held_out_utterances(9)[5:9]
    said = [sentences[0][0], f"{sentences[1][0]} scratch that", "scratch that", sentences[2][0], "new line",
            sentences[3][0]]
    wavs = []
    for index, text in enumerate(said):
        wavs.append(tmp_path / f"said{index}.wav")
        soundfile.write(wavs[-1], speak(text, *voice_for(index, seed=77)), 16000, subtype="PCM_16")
    typed, _ = _app_ready_with_a_field(desktop, tmp_path, "--multiline")
    database = tmp_path / "data" / "history.sqlite3"

    def history() -> list[str]:
        if not database.exists():
            return []
        with sqlite3.connect(database) as db:
            return [row[0] for row in db.execute("SELECT text FROM utterances ORDER BY id")]

    for count, wav in enumerate(wavs, start=1):
        desktop.run("xdotool", "keydown", "ctrl+alt+space")
        wait_for(lambda: (_status(desktop) or {}).get("state") == "listening", 30, "listening to start")
        subprocess.run(["paplay", "-d", "speaker", str(wav)], env=desktop.env, timeout=60)
        time.sleep(0.6)
        desktop.run("xdotool", "keyup", "ctrl+alt+space")
        wait_for(lambda: len(history()) == count and (_status(desktop) or {}).get("state") == "ready", 90,
             f"utterance {count} in the history")
        time.sleep(1.0)  # the paste lands and is counted as ours before the next "scratch that"
    heard = history()
    assert heard[1].lower().rstrip(".!?").endswith("scratch that") and heard[2].lower().rstrip(".!?") == "scratch that"
    assert heard[4].lower().rstrip(".!?") == "new line", heard
    result = wait_for(lambda: typed.exists() and typed.read_text("utf-8"), 30, "the text box's text")
    assert result == f"{heard[3]}\n{heard[5]}", (result, heard)
    for (reference, _), text in zip(sentences[2:], (heard[3], heard[5])):
        assert word_error_rate([reference], [text]) <= 0.3, (reference, text)
    desktop.screenshot(ARTIFACTS / "after-commands.png")


def test_kill_9_in_the_middle_of_an_utterance_then_the_next_start_recovers_it(desktop, tmp_path):
    """The app is killed (SIGKILL) while the hotkey is held and the second of three sentences is
    being spoken; the next start transcribes what was spooled and keeps it in the history as
    recovered, typed nowhere."""
    import numpy as np

    sentences = held_out_utterances(6)[3:]
    pause = np.zeros(8000, np.float32)
    spoken = tmp_path / "long.wav"
    soundfile.write(spoken, np.concatenate([part for _, s in sentences for part in (s, pause)]), 16000,
                    subtype="PCM_16")
    typed = tmp_path / "typed.txt"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps({
        "schema": 1, "model": str(SPEECH_MODEL), "device": "cpu", "hotkey": "ctrl+alt+space",
        "mode": "ptt", "microphone": "pulse", "sounds": False}), "utf-8")
    desktop.spawn(sys.executable, str(ROOT / "tests" / "programs" / "text_field.py"), str(typed), log="field")
    field = wait_for(lambda: desktop.run("xdotool", "search", "--name", "Dictation target").stdout.split(),
                 30, "the text field window")[0]
    app = desktop.spawn(sys.executable, "-m", "parakeet_desktop", log="app")
    _loaded(desktop, app)
    desktop.run("xdotool", "windowactivate", "--sync", field)
    desktop.run("xdotool", "keydown", "ctrl+alt+space")
    wait_for(lambda: (_status(desktop) or {}).get("state") == "listening", 10, "listening to start")
    player = subprocess.Popen(["paplay", "-d", "speaker", str(spoken)], env=desktop.env)
    first_bytes = 2 * (len(sentences[0][1]) + 8000)
    spool = tmp_path / "data" / "spool"
    wait_for(lambda: sum(p.stat().st_size for p in spool.glob("*.s16")) > first_bytes, 60,
         "the first sentence on disk")
    app.kill()
    app.wait(10)
    player.kill()
    desktop.run("xdotool", "keyup", "ctrl+alt+space")
    assert list(spool.glob("*.s16")), "the utterance in progress was spooled"

    desktop.spawn(sys.executable, "-m", "parakeet_desktop", log="app-again")
    database = tmp_path / "data" / "history.sqlite3"

    def recovered():
        if not database.exists():
            return None
        with sqlite3.connect(database) as db:
            return db.execute("SELECT text, delivered, problem FROM utterances").fetchall()

    rows = wait_for(recovered, 180, "the recovered utterance in the history")
    assert len(rows) == 1 and rows[0][1] == 0 and "recovered" in rows[0][2]
    first = sentences[0][0].split()
    assert word_error_rate([" ".join(first)], [" ".join(rows[0][0].split()[: len(first)])]) <= 0.3, rows
    wait_for(lambda: not list(spool.glob("*.s16")), 60, "the spool to be removed")
    assert not typed.exists() or not typed.read_text("utf-8").strip()  # recovered text is typed nowhere


def test_a_window_closed_before_the_paste_gets_no_keys_and_the_text_is_kept(desktop, qapp):
    """The window the user dictated into (focused at the key release) closes before the text is
    pasted: no keys go to whatever window took its place; the text is on the clipboard and the
    message says so. A window that is still there gets its paste."""
    from PySide6.QtGui import QGuiApplication

    from parakeet_desktop.desktop.inject import Injector
    from parakeet_desktop.ui.clipboard import QtClipboard
    from support.app import PastingKeyboard, later

    def run(args, **kwargs):
        return subprocess.run(args, env=desktop.env, **kwargs)

    field = desktop.spawn(sys.executable, str(ROOT / "tests" / "programs" / "text_field.py"),
                          str(desktop.folder / "typed.txt"), log="field")
    window = wait_for(lambda: desktop.run("xdotool", "search", "--name", "Dictation target").stdout.split(),
                  30, "the text field window")[0]
    desktop.run("xdotool", "windowactivate", "--sync", window)
    keyboard = PastingKeyboard()
    injector = Injector("paste", QtClipboard(), keyboard, later, platform="x11", run=run)
    injector.aim()
    assert injector.target == window
    assert injector.deliver("still there").ok and keyboard.chords == [("ctrl", "v")]
    injector.aim()
    field.kill()
    wait_for(lambda: desktop.run("xdotool", "getwindowname", window).returncode != 0, 30, "the window to close")
    result = injector.deliver("the words for a closed window")
    assert not result.ok and "closed before the text could be typed" in result.problem
    assert keyboard.chords == [("ctrl", "v")]  # nothing more was sent
    assert QGuiApplication.clipboard().text() == "the words for a closed window"


def test_settings_dialog_fits_a_small_screen(desktop):
    done = desktop.run(sys.executable, str(ROOT / "tests" / "programs" / "settings_screenshot.py"),
                       str(ARTIFACTS / "settings"), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for size in done.stdout.split():
        width, height = map(int, size.split("x"))
        assert width <= 1366 and height <= 768
    for index in range(7):
        assert (ARTIFACTS / f"settings-{index}.png").stat().st_size > 5_000


def test_first_run_history_and_menu_fit_a_small_screen(desktop):
    done = desktop.run(sys.executable, str(ROOT / "tests" / "programs" / "windows_screenshot.py"),
                       str(ARTIFACTS), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    shots = dict(line.split() for line in done.stdout.splitlines())
    assert set(shots) == {"first-run-choose", "first-run-downloading", "first-run-failed", "first-run-ready",
                          "history", "history-search", "tray-menu", "control-ready", "control-error"}
    for name, size in shots.items():
        width, height = map(int, size.split("x"))
        assert width <= 1366 and height <= 768, (name, size)
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 3_000, name


def test_file_window_with_results_fits_a_small_screen(desktop):
    shot = ARTIFACTS / "file-window.png"
    done = desktop.run(sys.executable, str(ROOT / "tests" / "programs" / "file_window_screenshot.py"),
                       str(shot), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    width, height = map(int, done.stdout.split()[-1].split("x"))
    assert width <= 1366 and height <= 768
    assert shot.stat().st_size > 10_000
