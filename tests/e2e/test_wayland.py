"""On a real Wayland compositor (headless sway with XWayland): text typed into a Wayland-native
window by wtype and by a paste through wl-copy, the user's clipboard back after the paste was read;
and the whole app: hold-to-talk through the GlobalShortcuts portal (a stand-in on a private bus,
playing KDE's portal, its RemoteDesktop keys reaching sway through wtype; sway's data-control
stands in for KWin's, which wl-copy uses on both), speech from the
virtual microphone, the words in a Wayland-native text field, the caption overlay never focused.

Screenshots are kept in ``test-artifacts/`` at the top of the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest

from parakeet_desktop.desktop.inject import Injector, focused_sway_app
from parakeet_desktop.desktop.wl_clipboard import WlClipboard
from support.dictation import app_status, dictation_setup, loaded, running_app
from support.portal import PortalStandIn, WtypeKeys, private_session_bus
from support.speech import word_error_rate
from tools.desktop_session import ROOT
from tools.waiting import wait_for
from tools.wayland_session import TOOLS, WaylandSession

ARTIFACTS = ROOT / "test-artifacts"
FIELD = "Dictation target"

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or any(shutil.which(t) is None for t in TOOLS + ("dbus-daemon",)),
    reason=f"needs {', '.join(TOOLS)} and dbus-daemon (tools/run-tests installs them)")


@pytest.fixture(scope="module")
def sway(tmp_path_factory):
    session = WaylandSession(tmp_path_factory.mktemp("wayland"))
    try:
        session.start()
        yield session
    finally:
        session.stop()


@pytest.fixture
def field(sway, tmp_path):
    """A Wayland-native text box with the focus; yields the file that has its text."""
    typed = tmp_path / "typed.txt"
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "programs" / "text_field.py"), str(typed),
                                "--multiline"], env={**sway.env, "QT_QPA_PLATFORM": "wayland"})
    try:
        wait_for(lambda: sway.focused().get("name") == FIELD, 30, "the text field to open")
        assert sway.focused()["shell"] == "xdg_shell"  # a Wayland window, not an X11 one
        yield typed
    finally:
        process.terminate()
        process.wait(10)


def _in_session(sway, monkeypatch) -> None:
    """This process becomes a client of the session (the tools it runs connect to sway)."""
    for name in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.setenv(name, sway.env[name])


def _text(path) -> str:
    return path.read_text("utf-8") if path.exists() else ""


def _later(ms, fn) -> None:
    threading.Timer(ms / 1000, fn).start()


def _copy(sway, text: str) -> None:
    """The user copies *text* (wl-copy's child keeps serving it: no pipes to wait on)."""
    subprocess.run(["wl-copy", text], env=sway.env, check=True, timeout=30, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def _clipboard(sway) -> str:
    return sway.run("wl-paste", "--no-newline").stdout


class WtypeChord:
    """desktop.inject.Keyboard by wtype: the paste chord as the compositor's virtual keyboard."""

    def __init__(self, env) -> None:
        self.env = env

    def chord(self, *keys):
        mods = [k for k in keys if k in ("ctrl", "shift", "alt")]
        args = ["wtype", "-k", "Shift_L"] + [a for m in mods for a in ("-M", m)] + ["-k", keys[-1]]
        subprocess.run(args + [a for m in reversed(mods) for a in ("-m", m)], env=self.env, check=True)

    def type(self, text):
        raise AssertionError("not used")


def test_wtype_types_every_character_into_a_wayland_window(sway, field, monkeypatch):
    _in_session(sway, monkeypatch)
    injector = Injector("wtype", WlClipboard(), None, _later, platform="wayland")
    sentence = "Grüße aus Köln, naïve café — 42%"
    assert injector.deliver(sentence).ok
    wait_for(lambda: _text(field) == sentence, 10, "the sentence in the field")  # the first letter too
    assert injector.press("enter").ok and injector.press("backspace", 1).ok
    wait_for(lambda: _text(field) == sentence, 10, "Enter then BackSpace to leave the text as it was")


def test_a_paste_through_wl_copy_lands_and_the_users_clipboard_comes_back(sway, field, monkeypatch):
    _in_session(sway, monkeypatch)
    _copy(sway, "the user's own clipboard")
    clipboard = WlClipboard()
    injector = Injector("paste", clipboard, WtypeChord(sway.env), _later, platform="wayland",
                        window_class=lambda: "")
    assert injector.route.way.value == "paste"
    assert injector.deliver("pasted, not typed: ünïcödé").ok
    wait_for(lambda: _text(field) == "pasted, not typed: ünïcödé", 10, "the paste in the field")
    wait_for(lambda: _clipboard(sway) == "the user's own clipboard", 15, "the user's clipboard to come back")
    # sway tells which app has the focus, so terminals can get their own chord ("auto")
    monkeypatch.setenv("SWAYSOCK", sway.env["SWAYSOCK"])
    assert focused_sway_app() == sway.focused()["app_id"] != ""


@pytest.mark.parametrize("platform", ["xwayland", "wayland"])
def test_hold_to_talk_through_the_portal_types_into_a_wayland_window(sway, field, tmp_path, platform):
    """The app as it starts on Wayland (Qt on XWayland), and on Qt's own wayland platform."""
    text, spoken, config = dictation_setup(tmp_path, 1)
    _copy(sway, "what the user had copied")
    with private_session_bus() as bus:
        keys = WtypeKeys(sway.env)
        portal = PortalStandIn(bus, shortcuts_version=1, remote_version=2, deliver=keys)
        env = {**sway.env, "DBUS_SESSION_BUS_ADDRESS": bus, "XDG_CURRENT_DESKTOP": "KDE",
               "PARAKEET_DESKTOP_CONFIG_DIR": str(config), "XDG_DATA_HOME": str(tmp_path / "share"),
               **({"QT_QPA_PLATFORM": "wayland"} if platform == "wayland" else {})}
        try:
            with running_app(env, tmp_path) as app:
                status = loaded(env, app, tmp_path / "app.log")
                assert status["session"] == "wayland"
                assert status["hotkey"].startswith("portal") and status["typing"].startswith("portal"), status
                # Asked once each at start: the shortcut, and the keyboard for typing.
                wait_for(lambda: "dictate" in portal.bound and portal.dialogs == 2, 30, "both approvals")
                assert portal.bound["dictate"]["preferred_trigger"] == "CTRL+ALT+space"
                assert portal.registered and all(a == portal.registered[0] for a in portal.registered)
                assert (tmp_path / "share" / "applications" / f"{portal.registered[0]}.desktop").exists()

                sway.focus(FIELD)  # the control window opened at start; the user clicks into the field
                portal.press()
                wait_for(lambda: (app_status(env) or {}).get("state") == "listening", 20, "listening to start")
                player = subprocess.Popen(["paplay", "-d", "speaker", str(spoken)], env=sway.env)
                wait_for(lambda: (app_status(env) or {}).get("caption"), 30, "a caption while speaking")
                # The overlay is up (on XWayland; not shown on Qt's wayland) and has not taken the focus.
                assert sway.focused()["name"] == FIELD
                shot = sway.screenshot(ARTIFACTS / f"{platform}-overlay-captions.png")
                player.wait(30)
                time.sleep(0.6)
                portal.release()

                result = wait_for(lambda: _text(field), 60, "the words in the Wayland text field")
                assert word_error_rate([text], [result.strip()]) <= 0.2, (text, result)
                assert keys.runs[-1][3:] == ["-M", "ctrl", "-k", "v", "-m", "ctrl"]  # pasted by the portal's keys
                wait_for(lambda: _clipboard(sway) == "what the user had copied", 20, "the user's clipboard back")
                assert sway.focused()["name"] == FIELD
                assert shot.stat().st_size > 10_000
                sway.screenshot(ARTIFACTS / f"{platform}-after-dictation.png")

                doctor = subprocess.run([sys.executable, "-m", "parakeet_desktop", "doctor"], env=env, cwd=ROOT,
                                        capture_output=True, text=True, timeout=120)
                print(doctor.stdout)
                assert "GlobalShortcuts: version 1" in doctor.stdout and "RemoteDesktop: version 2" in doctor.stdout
                assert "hotkey: portal" in doctor.stdout and "typing: portal" in doctor.stdout
                subprocess.run([sys.executable, "-m", "parakeet_desktop", "quit"], env=env, cwd=ROOT, timeout=60)
                assert app.wait(30) == 0
        finally:
            portal.stop()
