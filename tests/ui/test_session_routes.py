"""The app's side of the Wayland hotkey: what the user is told when the desktop binds the key, keeps
another, declines it or has no portal; press and release reaching the GUI thread as signals."""

from __future__ import annotations

import shutil

import pytest

from parakeet_desktop.desktop.routes import Desktop, typing_route
from parakeet_desktop.engine.live.modes import Mode
from parakeet_desktop.ui.session_routes import SessionRoutes
from support.portal import PortalStandIn, private_session_bus

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon")
GNOME = Desktop("wayland", "gnome", shortcuts_version=1, remote_version=2, portal_running=True, xwayland=True)


@pytest.fixture(scope="module")
def bus():
    with private_session_bus() as address:
        yield address


@pytest.fixture
def routes(bus, monkeypatch, app_dirs, qapp, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    made = SessionRoutes(GNOME)
    heard: list = []
    made.notice.connect(lambda title, message, error: heard.append((title, message, error)))
    made.pressed.connect(lambda: heard.append("pressed"))
    made.released.connect(lambda: heard.append("released"))
    yield made, heard
    made.stop_hotkey()


def test_bound_then_held_then_rebound_where_the_desktop_keeps_its_key(routes, bus, qtbot, tmp_path):
    made, heard = routes
    portal = PortalStandIn(bus, shortcuts_version=1)
    try:
        made.start_hotkey("ctrl+alt+space")
        qtbot.waitUntil(lambda: bool(heard), timeout=20000)
        assert heard.pop() == ("Hotkey", "Your desktop bound dictation to Ctrl+Alt+Space: hold it to talk, "
                                         "tap it for hands-free.", False)
        assert (tmp_path / "share" / "applications").is_dir()  # the menu entry the portal needs
        portal.press()
        qtbot.waitUntil(lambda: heard == ["pressed"], timeout=20000)
        portal.release()
        qtbot.waitUntil(lambda: heard == ["pressed", "released"], timeout=20000)
        heard.clear()
        assert dict(made.report("ctrl+alt+space", "auto"))["hotkey"].endswith("(bound to Ctrl+Alt+Space)")
        assert made.hint("ctrl+alt+space", Mode.PUSH_TO_TALK).startswith("Hold Ctrl+Alt+Space,")
        # The user picks F9 in the settings; the desktop keeps what it had (version 1: no settings page).
        portal.assign_trigger = "Ctrl+Alt+Space"
        made.start_hotkey("f9", changed=True)
        qtbot.waitUntil(lambda: bool(heard), timeout=20000)
        title, message, _error = heard.pop()
        assert "keeps dictation on Ctrl+Alt+Space" in message and "keyboard shortcut settings" in message
        assert portal.bound["dictate"]["preferred_trigger"] == "F9"  # it was asked for
    finally:
        portal.stop()


def test_a_desktop_with_shortcut_settings_opens_them(routes, bus, qtbot):
    made, heard = routes
    portal = PortalStandIn(bus, shortcuts_version=2)
    portal.assign_trigger = "Meta+D"
    try:
        made.start_hotkey("f9", changed=True)
        qtbot.waitUntil(lambda: bool(heard), timeout=20000)
        assert "its shortcut settings are open" in heard.pop()[1]
        assert portal.configured == 1
    finally:
        portal.stop()


def test_a_declined_shortcut_and_a_missing_portal_are_said(routes, bus, qtbot):
    made, heard = routes
    portal = PortalStandIn(bus)
    portal.deny = True
    try:
        made.start_hotkey("f9")
        qtbot.waitUntil(lambda: bool(heard), timeout=20000)
        title, message, error = heard.pop()
        assert title == "No global hotkey" and error and "declined" in message
    finally:
        portal.stop()
    made.start_hotkey("f9")  # the portal is gone now
    qtbot.waitUntil(lambda: bool(heard), timeout=20000)
    title, message, error = heard.pop()
    assert error and "could not be bound" in message


def test_the_portal_keyboard_keeps_its_approval_but_on_gnome(app_dirs, qapp):
    """GNOME never starts a keyboard session restored from a kept approval (tests/desktops:
    test_gnome_never_starts_a_keyboard_session_from_a_remembered_approval)."""
    kde = Desktop("wayland", "kde", shortcuts_version=1, remote_version=2, portal_running=True)
    for desktop, remembers in ((GNOME, False), (Desktop("wayland", "ubuntu:gnome", remote_version=1), False),
                               (kde, True)):
        keyboard = SessionRoutes(desktop).portal_keyboard
        assert keyboard is not None and keyboard.remember is remembers, desktop.name


def test_sway_says_which_lines_to_add(monkeypatch, app_dirs, qapp):
    made = SessionRoutes(Desktop("wayland", "sway", tools=frozenset({"wtype"})))
    heard = []
    made.notice.connect(lambda title, message, error: heard.append(message))
    made.start_hotkey("ctrl+alt+space")
    assert made.hotkey is None
    assert "bindsym --release Ctrl+Mod1+space exec parakeet-desktop stop" in heard[0]
    assert "Hold" not in made.hint("ctrl+alt+space", Mode.PUSH_TO_TALK)  # no key of ours to hold
    assert "parakeet-desktop start" in made.hint("ctrl+alt+space", Mode.PUSH_TO_TALK)
    # wtype types here: the portal's keyboard, never asked, adds nothing to what is reported.
    typing = typing_route(made.desktop)
    assert made.status("ctrl+alt+space", typing)["typing"] == f"wtype: {typing.why}"
    assert dict(made.report("ctrl+alt+space", "auto"))["typing"] == f"wtype: {typing.why}"


def test_the_apps_portal_messages_reach_the_window_on_the_gui_thread(bus, monkeypatch, app_dirs, qapp, qtbot,
                                                                      tmp_path):
    from PySide6.QtCore import QThread

    from parakeet_desktop.engine.audio.file_device import FileSoundDevice
    from parakeet_desktop.settings import config
    from parakeet_desktop.ui.app import DesktopApp
    from support.app import PastingKeyboard, close_app
    from support.models import SPEECH_MODEL
    from support.speech import silence

    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    portal = PortalStandIn(bus)
    portal.deny = True  # the user declines both dialogs: the answers come on the portal's threads
    settings = config.Settings(model=str(SPEECH_MODEL), device="cpu", sounds=False, hotkey="f9")
    app = DesktopApp(settings, [], use_tray=False, sd=FileSoundDevice(samples=silence(5.0)),
                     keyboard=PastingKeyboard(), desktop=GNOME)
    on_gui_thread = []
    notify = app.status.notify

    def watched(*args, **kwargs):
        on_gui_thread.append(QThread.currentThread() is qapp.thread())
        notify(*args, **kwargs)
    app.status.notify = watched
    try:
        assert app.delivery.injector.method == "portal"
        app.start()
        qtbot.waitUntil(lambda: "declined keyboard access" in app.status.message
                        and "declined the dictation shortcut" in app.status.message, timeout=30000)
        assert on_gui_thread and all(on_gui_thread)
        qtbot.waitUntil(lambda: app.state == "ready", timeout=120000)
    finally:
        close_app(app)
        portal.stop()
