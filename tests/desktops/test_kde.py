"""The app's own portal code against a real KDE Plasma 5.27 (Debian 12): KWin on a virtual output,
its global shortcuts daemon, xdg-desktop-portal 1.16 and xdg-desktop-portal-kde, no stand-in.

A person's keys go through KDE's own input path (tools.kde_session.Hands); the text lands in a
Wayland-native text field; the approval dialog KDE shows an app it knows by id (one launched in
its systemd app scope) is answered by a key press into it, or left unanswered. Screenshots are
kept in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

import pytest

from parakeet_desktop.desktop.entry import APP_ID
from parakeet_desktop.desktop.inject import Injector
from parakeet_desktop.desktop.portal import session_token
from parakeet_desktop.desktop.remote_desktop import PortalKeyboard
from parakeet_desktop.desktop.routes import KeyRoute, key_route, probe, report, typing_route
from parakeet_desktop.desktop.wl_clipboard import WlClipboard
from parakeet_desktop.settings import Injection
from support.dictation import app_status, dictation_setup, field_text, focus_lines, loaded, running_app, text_field
from support.portal import ShortcutEvents
from support.speech import word_error_rate
from tools.desktop_session import ROOT
from tools.kde_session import Hands, in_app_scope
from tools.waiting import wait_for

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def hands(kde):
    """The person's keyboard, through the desktop's RemoteDesktop (Plasma 5.27 only notifies an app
    it knows by no id; on Plasma 6 the session authorized such apps in the permission store)."""
    person = Hands(kde.bus)
    yield person
    person.close()


@pytest.fixture
def in_session(kde, monkeypatch):
    """This process becomes a client of the session (the portals, wl-copy and wl-paste)."""
    for name in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DISPLAY", "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP",
                 "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.setenv(name, kde.env[name])
    return kde


@pytest.fixture
def field(kde, tmp_path):
    """A Wayland-native text box with the focus; yields (its text file, its focus log)."""
    with text_field(kde.env, tmp_path, "--multiline") as opened:
        yield opened


def test_the_hotkey_binds_and_holding_it_is_push_to_talk(kde, hands):
    for start in ("first start", "next start"):  # the key the desktop gave is the app's again
        user = ShortcutEvents(kde.bus, answer_seconds=60)
        user.shortcut.start()
        assert user.next() == ("bound", "Ctrl+Alt+Space"), start
        assert user.shortcut.outcome == "bound to Ctrl+Alt+Space"
        for _ in range(2):  # two utterances
            hands.hold(Hands.CTRL, Hands.ALT, Hands.SPACE)
            assert user.next() == "press"
            threading.Event().wait(1.0)  # held a while: the key repeats, still one press
            hands.let_go(Hands.CTRL, Hands.ALT, Hands.SPACE)
            assert user.next() == "release"
        assert user.events.empty(), f"{start}: more than two presses and releases: {list(user.events.queue)}"
        user.shortcut.stop()
    # KDE keeps the shortcut under a component named after the app's own session token.
    components = kde.run("busctl", "--user", "call", "org.kde.kglobalaccel", "/kglobalaccel",
                         "org.kde.KGlobalAccel", "allComponents").stdout
    assert session_token("shortcuts") in components


def test_auto_typing_picks_the_portal_and_the_text_lands_in_a_wayland_field(in_session, hands, field, tmp_path):
    typed, focus = field
    desktop = probe(in_session.bus)
    assert desktop.session == "wayland" and desktop.portal_running
    # Plasma 5.27's RemoteDesktop is version 1 (no restore token), Plasma 6's version 2.
    assert desktop.shortcuts_version == 1 and desktop.remote_version == (1 if in_session.version == "5" else 2)
    assert key_route(desktop, "ctrl+alt+space").way is KeyRoute.PORTAL
    assert typing_route(desktop).way is Injection.PORTAL
    assert dict(report(desktop, "ctrl+alt+space"))["typing"].startswith("portal")
    keyboard = PortalKeyboard(tmp_path / "token", bus=in_session.bus, answer_seconds=30)
    later = lambda ms, fn: threading.Timer(ms / 1000, fn).start()  # noqa: E731
    try:
        injector = Injector("auto", WlClipboard(), None, later, desktop=desktop, portal_keyboard=keyboard)
        assert injector.method == "portal"
        # Nothing copied yet (KWin then leaves wl-paste waiting: an empty clipboard, not a fault).
        subprocess.run(["wl-copy", "--clear"], env=in_session.env, timeout=30, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        assert injector.deliver("First words.").ok
        wait_for(lambda: field_text(typed) == "First words.", 30, "the first words in the field")
        subprocess.run(["wl-copy", "what the user had copied"], env=in_session.env, check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sentence = "Grüße aus Köln, naïve café: 42 %"
        assert injector.deliver(" " + sentence).ok
        wait_for(lambda: field_text(typed) == "First words. " + sentence, 30, "the pasted sentence in the field")
        wait_for(lambda: in_session.run("wl-paste", "--no-newline").stdout == "what the user had copied", 30,
                 "the user's clipboard back")
        # Typing key by key: letters the layout has as keys, the others pasted, none dropped.
        by_keys = Injector("type", WlClipboard(), None, later, desktop=desktop, portal_keyboard=keyboard)
        sentence = "First words. " + sentence
        assert by_keys.deliver(" and plain keys").ok
        wait_for(lambda: field_text(typed) == sentence + " and plain keys", 30, "the typed words in the field")
        assert by_keys.deliver(" then € and é").ok
        wait_for(lambda: field_text(typed) == sentence + " and plain keys then € and é", 30,
                 "the characters KDE has no keys for")
        assert focus_lines(focus) == ["active"]  # the field kept the focus throughout
        kde_log = (in_session.folder / "portal-kde.log").read_text("utf-8")
        assert "Failed to convert keysym" not in kde_log
        in_session.screenshot(ARTIFACTS / "kde-typed.png")
    finally:
        keyboard.close()


class ScopedKeyboard:
    """tests/programs/portal_keyboard.py in the app's systemd scope: KDE knows it by its id."""

    def __init__(self, kde, answer_seconds: float, number: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "programs" / "portal_keyboard.py"), str(answer_seconds)],
            env={**kde.env, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=in_app_scope(APP_ID, number))
        self.answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(json.loads(line))

    def ask(self, line: str, answer: bool = True) -> dict | None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.answers.get(timeout=120) if answer else None

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def _dialogs_started(kde) -> int:
    return (kde.folder / "portal-kde.log").read_text("utf-8").count("xdp-kde-remotedesktop: Start called")


def test_the_approval_dialog_unanswered_then_approved(kde, hands, field):
    typed, focus = field
    keyboard = ScopedKeyboard(kde, answer_seconds=20, number=1)
    try:
        assert keyboard.ask("app_id") == {"app_id": APP_ID}  # the portal knows the app by its id
        before = _dialogs_started(kde)
        # The first paste asks: KDE shows its dialog; the caller is not held until it is answered.
        answer = keyboard.ask("chord ctrl v")
        assert "answer its dialog" in answer["error"]
        assert keyboard.ask("state") == {"state": "asking the desktop"}  # back while the dialog waits
        wait_for(lambda: _dialogs_started(kde) == before + 1, 30, "KDE's approval dialog")
        kde.screenshot(ARTIFACTS / "kde-approval-dialog.png")
        wait_for(lambda: keyboard.ask("state")["state"] == "no answer to the desktop's dialog", 90,
                 "the dialog's time to run out")
        # The next paste fails at once with what to do, and asks nothing more.
        answer = keyboard.ask("chord ctrl v")
        assert "no answer within 20 s" in answer["error"] and "Ask the desktop again" in answer["error"]
        assert _dialogs_started(kde) == before + 1
        # The user asks again from the menu, and approves in the dialog with the keyboard.
        keyboard.ask("open", answer=False)
        wait_for(lambda: _dialogs_started(kde) == before + 2, 30, "the dialog again")
        wait_for(lambda: focus_lines(focus)[-1:] == ["inactive"], 30, "the dialog to take the focus")
        hands.tap(Hands.ENTER)
        assert keyboard.answers.get(timeout=60) == {"opened": True}
        wait_for(lambda: focus_lines(focus)[-1:] == ["active"], 30, "the focus back in the field")
        answer = keyboard.ask("paste Approved, and typed: ünïcödé")
        assert answer["ok"] and answer["method"] == "portal", answer
        wait_for(lambda: field_text(typed) == "Approved, and typed: ünïcödé", 30, "the words in the field")
    finally:
        keyboard.close()


def test_the_whole_app_dictates_into_a_wayland_field_on_kde(kde, hands, field, tmp_path):
    """The app as a user starts it on Plasma: the hotkey through KDE's GlobalShortcuts, speech
    from the virtual microphone, the words pasted through KDE's RemoteDesktop into a Wayland
    window, the user's clipboard back, the captions overlay never focused, doctor truthful."""
    typed, focus = field
    text, spoken, config = dictation_setup(tmp_path, 2)
    subprocess.run(["wl-copy", "what the user had copied"], env=kde.env, check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**kde.env, "PARAKEET_DESKTOP_CONFIG_DIR": str(config), "XDG_DATA_HOME": str(tmp_path / "share")}
    with running_app(env, tmp_path) as app:
        status = loaded(env, app, tmp_path / "app.log")
        assert status["session"] == "wayland"
        status = wait_for(lambda: (s := app_status(env)) and "bound to" in s["hotkey"] and s, 60, "the hotkey bound")
        assert status["hotkey"] == "portal: bound to Ctrl+Alt+Space", status
        assert status["typing"].startswith("portal") and "the desktop gave the keyboard" in status["typing"], status
        assert any("Ctrl+Alt+Space" in n["message"] for n in status["notices"])  # told, and kept for status
        # The app's window came up at start: the user clicks back into the text field.
        kde.activate("Dictation target")
        wait_for(lambda: focus_lines(focus)[-1:] == ["active"], 30, "the field to have the focus")
        focus_changes = len(focus_lines(focus))
        hands.hold(Hands.CTRL, Hands.ALT, Hands.SPACE)
        wait_for(lambda: (app_status(env) or {}).get("state") == "listening", 30, "listening to start")
        player = subprocess.Popen(["paplay", "-d", "speaker", str(spoken)], env=kde.env)
        wait_for(lambda: (app_status(env) or {}).get("caption"), 60, "a caption while speaking")
        kde.screenshot(ARTIFACTS / "kde-overlay-captions.png")
        player.wait(60)
        wait_for(lambda: len((app_status(env) or {}).get("caption", "").split()) >= len(text.split()) // 2, 30,
                 "the caption to catch up")
        hands.let_go(Hands.CTRL, Hands.ALT, Hands.SPACE)
        result = wait_for(lambda: field_text(typed), 90, "the words in the Wayland text field")
        assert word_error_rate([text], [result.strip()]) <= 0.2, (text, result)
        wait_for(lambda: kde.run("wl-paste", "--no-newline").stdout == "what the user had copied", 30,
                 "the user's clipboard back")
        assert len(focus_lines(focus)) == focus_changes  # the overlay never took the focus
        kde.screenshot(ARTIFACTS / "kde-after-dictation.png")
        doctor = subprocess.run([sys.executable, "-m", "parakeet_desktop", "doctor"], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        print(doctor.stdout)
        assert "GlobalShortcuts: version 1" in doctor.stdout
        assert f"RemoteDesktop: version {1 if kde.version == '5' else 2}" in doctor.stdout
        assert "hotkey: portal: bound to Ctrl+Alt+Space" in doctor.stdout  # what happened, from the app
        subprocess.run([sys.executable, "-m", "parakeet_desktop", "quit"], env=env, cwd=ROOT, timeout=60)
        assert app.wait(60) == 0
