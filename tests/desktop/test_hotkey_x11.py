"""The global hotkey on real X servers (Xvfb): heard when pressed, and a clear refusal, never a
hang, where the server cannot report keys."""

from __future__ import annotations

import subprocess
import threading

from parakeet_desktop.desktop.hotkey import HotkeyError, HotkeyListener, _ready_within, parse_hotkey
from tools.desktop_session import start_xvfb
from tools.waiting import wait_for


def _started(listener: HotkeyListener) -> BaseException | None:
    """What *listener*.start() raised (None: it listens), on a thread the test gives up on after a
    generous limit rather than hanging with it."""
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            listener.start()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome.append(exc)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(120)
    assert outcome, "starting the hotkey listener never returned"
    return outcome[0]


def test_the_held_chord_is_heard_and_its_release(x_display, monkeypatch):
    monkeypatch.setenv("DISPLAY", x_display)
    heard: list[str] = []
    listener = HotkeyListener(parse_hotkey("ctrl+alt+space"), lambda: heard.append("down"), lambda: heard.append("up"))
    assert _started(listener) is None
    try:
        keys = ["xdotool", "keydown", "ctrl+alt+space", "sleep", "0.3", "keyup", "ctrl+alt+space"]
        subprocess.run(keys, env={"DISPLAY": x_display, "PATH": "/usr/bin:/bin"}, check=True, timeout=60)
        wait_for(lambda: heard == ["down", "up"], 30, f"the press and the release to be heard (heard: {heard})")
    finally:
        listener.stop()


def test_an_x_server_without_record_is_refused_with_what_to_do(monkeypatch, tmp_path):
    with open(tmp_path / "xvfb.log", "w") as log:
        server, display = start_xvfb("-extension", "RECORD", "-nolisten", "tcp", log=log)
    try:
        monkeypatch.setenv("DISPLAY", display)
        listener = HotkeyListener(parse_hotkey("ctrl+alt+space"), lambda: None, lambda: None)
        refused = _started(listener)
        assert isinstance(refused, HotkeyError)
        assert "RECORD" in str(refused) and "parakeet-desktop toggle" in str(refused)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_listener_that_fails_before_listening_is_given_up_on(x_display, monkeypatch, tmp_path):
    """pynput's own wait() never returns when its thread fails before it is ready; here it cannot
    reach its X server (one that has just stopped)."""
    monkeypatch.setenv("DISPLAY", x_display)
    from pynput import keyboard  # its backend needs an X server to import

    with open(tmp_path / "xvfb.log", "w") as log:
        server, gone = start_xvfb("-nolisten", "tcp", log=log)
    server.terminate()
    server.wait(timeout=10)
    monkeypatch.setenv("DISPLAY", gone)
    listener = keyboard.Listener(on_press=lambda key: None, on_release=lambda key: None)
    listener.start()
    assert _ready_within(listener, 60) is False
