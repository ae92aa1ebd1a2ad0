"""wl-copy and wl-paste against a compositor that never answers: a clear error within the limit,
never a frozen app, and the text still kept (the history has it)."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from parakeet_desktop.desktop.inject import Injector
from parakeet_desktop.desktop.wl_clipboard import WlClipboard

pytestmark = pytest.mark.skipif(shutil.which("wl-copy") is None, reason="needs wl-clipboard")


@pytest.fixture
def silent_compositor(tmp_path, monkeypatch):
    """A Wayland socket that takes connections and never says a word."""
    path = tmp_path / "wayland-silent"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(16)
    monkeypatch.setenv("WAYLAND_DISPLAY", str(path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    yield
    server.close()


def test_a_clipboard_tool_that_hangs_is_an_error_within_a_second(silent_compositor):
    clipboard = WlClipboard(limit=1.0)
    for attempt in (lambda: clipboard.set_text("words"), lambda: clipboard.offer("words"), clipboard.text):
        started = time.monotonic()
        with pytest.raises(OSError, match="did not (answer|set the clipboard) within 1 s"):
            attempt()
        assert time.monotonic() - started < 5


def test_a_paste_into_a_frozen_session_says_why_and_returns(silent_compositor):
    class Keys:
        chords = []

        def chord(self, *keys):
            self.chords.append(keys)

    keys = Keys()
    injector = Injector("paste", WlClipboard(limit=1.0), keys, lambda ms, fn: None, platform="wayland",
                        window_class=lambda: "")
    started = time.monotonic()
    delivery = injector.deliver("the dictated words")
    assert time.monotonic() - started < 10
    # wl-paste's silence is an empty clipboard (KWin's way), so it is wl-copy's that is told.
    assert not delivery.ok and "wl-copy did not set the clipboard within 1 s" in delivery.problem
    assert "history" in delivery.problem
    assert keys.chords == []  # no paste chord for a clipboard that was never set
