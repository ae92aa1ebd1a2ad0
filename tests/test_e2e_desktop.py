"""End to end, as a person uses the app: a real X server (Xvfb) with a system tray
(trayer), a PulseAudio virtual microphone fed with espeak-ng speech, a plain text field
with focus; the hotkey is held with xdotool while the sentence plays, then released.

Artefacts (screenshots) are kept in ``test-artifacts/`` at the top of the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

from conftest import SPEECH_MODEL, held_out_utterances, word_error_rate

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TOOLS = ("Xvfb", "xdotool", "pulseaudio", "pactl", "paplay", "trayer")

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or any(shutil.which(t) is None for t in TOOLS),
    reason=f"needs {', '.join(TOOLS)} (tools/run-tests installs them)")


def _wait(condition, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


class Desktop:
    """Xvfb, a tray, PulseAudio with a virtual microphone; processes stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        self.display = f":{90 + os.getpid() % 50}"
        runtime = folder / "runtime"
        runtime.mkdir(mode=0o700)
        self.env = {**os.environ, "DISPLAY": self.display, "XDG_RUNTIME_DIR": str(runtime),
                    "PULSE_RUNTIME_PATH": str(runtime / "pulse"), "QT_QPA_PLATFORM": "xcb",
                    "PARAKEET_DESKTOP_CONFIG_DIR": str(folder / "config"),
                    "PARAKEET_DESKTOP_DATA_DIR": str(folder / "data")}
        self.env.pop("WAYLAND_DISPLAY", None)
        self.env.pop("PULSE_SERVER", None)

    def spawn(self, *args: str, log: str) -> subprocess.Popen:
        stream = open(self.folder / f"{log}.log", "w")
        process = subprocess.Popen(list(args), env=self.env, stdout=stream, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60, **kwargs)

    def start(self) -> None:
        self.spawn("Xvfb", self.display, "-screen", "0", "1366x768x24", "-nolisten", "tcp", log="xvfb")
        _wait(lambda: self.run("xdotool", "getmouselocation").returncode == 0, 20, "the X server")
        self.spawn("trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                   "--height", "28", "--SetDockType", "true", log="tray")
        self.spawn("pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                   "-L", "module-native-protocol-unix", "-L", "module-null-sink sink_name=speaker",
                   "-L", "module-remap-source master=speaker.monitor source_name=virtual_mic",
                   log="pulseaudio")
        _wait(lambda: self.run("pactl", "info").returncode == 0, 20, "PulseAudio")
        self.run("pactl", "set-default-source", "virtual_mic")
        self.run("pactl", "set-default-sink", "speaker")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = self.run(sys.executable, str(ROOT / "tests" / "desktop" / "screenshot.py"), str(path))
        assert done.returncode == 0, done.stderr
        return path

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


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


def test_hold_the_hotkey_speak_release_and_the_words_are_typed(desktop, tmp_path):
    text, speech = held_out_utterances(3)[2]
    spoken = tmp_path / "sentence.wav"
    soundfile.write(spoken, speech, 16000, subtype="PCM_16")
    typed = tmp_path / "typed.txt"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps({
        "schema": 1, "model": str(SPEECH_MODEL), "device": "cpu", "hotkey": "ctrl+alt+space",
        "mode": "ptt", "microphone": "pulse", "sounds": False, "trailing_space": False}), "utf-8")

    desktop.spawn(sys.executable, str(ROOT / "tests" / "desktop" / "text_field.py"), str(typed), log="field")
    field = _wait(lambda: desktop.run("xdotool", "search", "--name", "Dictation target").stdout.split(),
                  30, "the text field window")[0]
    app = desktop.spawn(sys.executable, "-m", "parakeet_desktop", log="app")
    status = _wait(lambda: (s := _status(desktop)) and s["ready_after"] is not None and s,
                   180, "the app to load its model")
    assert status["tray"], "trayer provides a system tray: the app should use it"
    assert status["state"] == "ready"
    # A second launch hands over to the first and exits.
    second = desktop.run(sys.executable, "-m", "parakeet_desktop", cwd=ROOT)
    assert second.returncode == 0 and "already running" in second.stderr

    desktop.run("xdotool", "windowactivate", "--sync", field)
    desktop.run("xdotool", "windowfocus", "--sync", field)
    desktop.run("xdotool", "keydown", "ctrl+alt+space")
    _wait(lambda: (_status(desktop) or {}).get("state") == "listening", 10, "listening to start")
    player = subprocess.Popen(["paplay", "-d", "speaker", str(spoken)], env=desktop.env)
    caption = _wait(lambda: (_status(desktop) or {}).get("caption"), 20, "a caption while speaking")
    shot = desktop.screenshot(ARTIFACTS / "overlay-captions.png")
    player.wait(30)
    time.sleep(0.6)
    desktop.run("xdotool", "keyup", "ctrl+alt+space")

    result = _wait(lambda: typed.exists() and typed.read_text("utf-8"), 60, "the words in the text field")
    assert word_error_rate([text], [result]) <= 0.2, (text, result)
    assert caption and shot.stat().st_size > 10_000
    with sqlite3.connect(tmp_path / "data" / "history.sqlite3") as db:
        rows = db.execute("SELECT text, delivered FROM utterances").fetchall()
    assert rows == [(result, 1)]
    desktop.screenshot(ARTIFACTS / "after-dictation.png")
    assert app.poll() is None
