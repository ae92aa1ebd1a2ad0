"""What the whole-app tests on real desktops share: a held-out sentence to speak into the virtual
microphone, the settings the app starts with, the app started as a user starts it, its own
``status``, and a Wayland-native text field to dictate into."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import soundfile

from support.models import SPEECH_MODEL
from support.speech import held_out_utterances
from tools.desktop_session import ROOT
from tools.waiting import wait_for


def dictation_setup(folder: Path, which: int) -> tuple[str, Path, Path]:
    """(the sentence's text, its recording, the app's config folder): held-out sentence *which*,
    and push-to-talk on Ctrl+Alt+Space from the PulseAudio virtual microphone."""
    text, speech = held_out_utterances(3)[which]
    spoken = folder / "sentence.wav"
    soundfile.write(spoken, speech, 16000, subtype="PCM_16")
    config = folder / "config"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps({
        "schema": 1, "model": str(SPEECH_MODEL), "device": "cpu", "hotkey": "ctrl+alt+space",
        "mode": "ptt", "microphone": "pulse", "sounds": False, "trailing_space": False}), "utf-8")
    return text, spoken, config


def app_status(env: dict[str, str]) -> dict | None:
    """``parakeet-desktop status`` of the app running with *env* (None while it does not answer)."""
    done = subprocess.run([sys.executable, "-m", "parakeet_desktop", "status"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout) if done.returncode == 0 else None


def loaded(env: dict[str, str], app: subprocess.Popen, log: Path) -> dict:
    """The status of *app* (started with *env*) once its model is loaded; the failure says so as
    soon as the app stops, with the end of its *log*."""
    def ready():
        assert app.poll() is None, f"the app stopped (exit status {app.returncode})"
        return (s := app_status(env)) and s["ready_after"] is not None and s

    try:
        return wait_for(ready, 180, "the app to load its model")
    except AssertionError as failure:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise AssertionError(f"{failure}; the app's log ends with:\n{tail}") from None


def focus_lines(path: Path) -> list[str]:
    """The words of a file the field writes (its focus log), none before it exists."""
    return path.read_text("utf-8").split() if path.exists() else []


def field_text(path: Path) -> str:
    return path.read_text("utf-8") if path.exists() else ""


@contextmanager
def text_field(env: dict[str, str], folder: Path, *options: str) -> Iterator[tuple[Path, Path]]:
    """tests/programs/text_field.py on the Wayland session of *env*, open with the focus; yields
    (the file it writes its text to, its focus log)."""
    typed, focus = folder / "typed.txt", folder / "focus.log"
    field_env = {name: value for name, value in env.items() if name != "DISPLAY"}
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "programs" / "text_field.py"), str(typed),
                                *options, "--focus-log", str(focus)], env={**field_env, "QT_QPA_PLATFORM": "wayland"})
    try:
        wait_for(lambda: focus_lines(focus)[-1:] == ["active"], 60, "the text field to open with the focus")
        yield typed, focus
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def running_app(env: dict[str, str], folder: Path) -> Iterator[subprocess.Popen]:
    """The app started with *env* as a user starts it, its verbose log in *folder*/app.log; killed
    at the end if the test left it running, and the end of its log printed for the test's report."""
    log_path = folder / "app.log"
    with open(log_path, "w") as log:
        app = subprocess.Popen([sys.executable, "-m", "parakeet_desktop", "-v"], env=env, cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
        try:
            yield app
        finally:
            if app.poll() is None:
                app.kill()
                app.wait(30)
    print(log_path.read_text()[-5000:])
