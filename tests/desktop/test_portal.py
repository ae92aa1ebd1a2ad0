"""The portal routes against a real D-Bus daemon with a portal stand-in on it: hold-to-talk
through GlobalShortcuts, key presses through RemoteDesktop, approval, denial, a portal that goes
away, and a restore token the desktop no longer takes."""

from __future__ import annotations

import queue
import threading

import pytest

from parakeet_desktop.desktop.hotkey import parse_hotkey
from parakeet_desktop.desktop.inject import Injector, NotInLayout
from parakeet_desktop.desktop.portal import APP_ID, PortalConnection, PortalError, session_token
from parakeet_desktop.desktop.remote_desktop import PortalKeyboard, keysym
from parakeet_desktop.desktop.routes import Desktop
from parakeet_desktop.desktop.shortcuts import preferred_trigger
from support.portal import REMOTE, SHORTCUTS, PortalStandIn, ShortcutEvents, private_session_bus
from tools.waiting import wait_for

CTRL, SHIFT, V, RETURN, TAB, BACKSPACE = 0xFFE3, 0xFFE1, 0x76, 0xFF0D, 0xFF09, 0xFF08


@pytest.fixture(scope="module")
def bus():
    with private_session_bus() as address:
        yield address


@pytest.fixture
def portal(bus):
    standin = PortalStandIn(bus)
    yield standin
    standin.stop()


def test_triggers_in_the_portal_format():
    assert preferred_trigger(parse_hotkey("ctrl+alt+space")) == "CTRL+ALT+space"
    assert preferred_trigger(parse_hotkey("super+f9")) == "LOGO+F9"
    assert preferred_trigger(parse_hotkey("ctrl+shift+enter")) == "CTRL+SHIFT+Return"
    assert preferred_trigger(parse_hotkey("ctrl+shift")) is None


def test_holding_the_portal_shortcut_is_push_to_talk(portal, bus):
    user = ShortcutEvents(bus)
    user.shortcut.start()
    assert user.next() == ("bound", "Ctrl+Alt+Space")
    assert portal.registered == [APP_ID]  # registered before anything else
    assert portal.calls[0] == "Register"
    assert portal.bound["dictate"]["preferred_trigger"] == "CTRL+ALT+space"
    assert portal.dialogs == 1
    for _ in range(2):  # two utterances, each a press and a release
        portal.press()
        assert user.next() == "press"
        portal.release()
        assert user.next() == "release"
    portal.release()  # a release without a press (a repeat) is not a second utterance
    portal.press()
    portal.press()  # nor is a second press while held
    assert user.next() == "press"
    user.shortcut.stop()  # stopping while held ends the utterance
    assert user.next() == "release"
    assert user.events.empty()


def test_the_key_the_desktop_chose_is_the_one_shown(portal, bus):
    portal.assign_trigger = "Meta+D"
    user = ShortcutEvents(bus)
    user.shortcut.start()
    assert user.next() == ("bound", "Meta+D")
    portal.change_trigger("Ctrl+F12")  # changed later in the desktop's settings
    assert user.next() == ("bound", "Ctrl+F12")
    assert user.shortcut.trigger == "Ctrl+F12"
    assert not user.shortcut.configure()  # version 1: the desktop has no settings page to open
    user.shortcut.stop()


def test_version_two_opens_the_desktops_shortcut_settings(bus):
    portal = PortalStandIn(bus, shortcuts_version=2)
    try:
        user = ShortcutEvents(bus)
        user.shortcut.start()
        assert user.next()[0] == "bound"
        assert user.shortcut.configure()
        portal.wait_for(lambda: portal.configured == 1)
        user.shortcut.stop()
    finally:
        portal.stop()


def test_a_declined_shortcut_says_what_to_do(portal, bus):
    portal.deny = True
    user = ShortcutEvents(bus)
    user.shortcut.start()
    kind, message = user.next()
    assert kind == "lost" and "declined" in message and "parakeet-desktop toggle" in message
    assert "Ask the desktop again" in message  # the menu's entry asks again; saving the settings does not
    portal.press()  # no session was bound: nothing happens
    with pytest.raises(queue.Empty):
        user.events.get(timeout=1)


def test_the_shortcut_is_given_at_create_session_too_with_the_apps_own_token(portal, bus):
    """KDE Plasma 5.27 binds only what CreateSession carries; others bind in BindShortcuts."""
    user = ShortcutEvents(bus)
    user.shortcut.start()
    assert user.next() == ("bound", "Ctrl+Alt+Space")
    created = portal.created[-1]
    assert [name for name, _ in created["shortcuts"]] == ["dictate"]
    assert created["shortcuts"][0][1]["preferred_trigger"] == ("s", "CTRL+ALT+space")
    # The same token at every start, and no other app's: KDE names the shortcut's component after it.
    assert created["session_handle_token"] == session_token("shortcuts") != "parakeet"
    assert APP_ID.replace(".", "_") in created["session_handle_token"]
    assert user.shortcut.outcome == "bound to Ctrl+Alt+Space"
    user.shortcut.stop()


def test_a_granted_but_empty_binding_is_not_called_declined(portal, bus, monkeypatch):
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    portal.bind_nothing = True  # the answer is 0 (granted) with no shortcut in it
    user = ShortcutEvents(bus)
    user.shortcut.start()
    kind, message = user.next()
    assert kind == "lost" and "declined" not in message
    assert "no key" in message and "System Settings → Shortcuts" in message
    assert user.shortcut.outcome == "not bound: no key"
    portal.change_trigger("Ctrl+Alt+D")  # the user gives it a key in the desktop's settings
    assert user.next() == ("bound", "Ctrl+Alt+D")
    portal.press()
    assert user.next() == "press"
    portal.release()
    assert user.next() == "release"
    portal.change_trigger("")  # and takes it away again
    kind, message = user.next()
    assert kind == "lost" and "no key" in message and user.shortcut.outcome == "not bound: no key"
    user.shortcut.stop()


def test_a_binding_the_desktop_holds_counts_whatever_its_answer(portal, bus):
    """GNOME 48.0 binds, then answers 2 (its backend leaves the answer unset); its ListShortcuts
    has the truth. A desktop that answers 2 and holds nothing is a failure, said as one."""
    portal.bind_answers_2 = True
    portal.assign_trigger = "Press <Control><Alt>space"  # GNOME's words for the key
    user = ShortcutEvents(bus)
    user.shortcut.start()
    assert user.next() == ("bound", "Ctrl+Alt+Space")
    portal.press()
    assert user.next() == "press"
    user.shortcut.stop()
    assert user.next() == "release"
    portal.bind_nothing = True  # answers 2 and holds nothing
    again = ShortcutEvents(bus)
    again.shortcut.start()
    kind, message = again.next()
    assert kind == "lost" and "could not be bound" in message and "answered 2" in message
    again.shortcut.stop()


def test_an_unanswered_shortcut_dialog_is_not_called_declined(portal, bus):
    portal.silent = True
    user = ShortcutEvents(bus, answer_seconds=1)
    user.shortcut.start()
    kind, message = user.next()
    assert kind == "lost" and "declined" not in message
    assert "no answer within 1 s" in message and "asked again" in message and "Ask the desktop again" in message
    assert user.shortcut.outcome == "no answer to the desktop's dialog"


def test_a_portal_that_goes_away_ends_the_utterance_and_says_so(bus):
    portal = PortalStandIn(bus)
    user = ShortcutEvents(bus)
    user.shortcut.start()
    assert user.next()[0] == "bound"
    portal.press()
    assert user.next() == "press"
    portal.stop()  # it crashes with the key held
    assert user.next() == "release"
    kind, message = user.next()
    assert kind == "lost" and "portal stopped" in message
    user.shortcut.stop()


def test_a_closed_session_is_reported(portal, bus):
    user = ShortcutEvents(bus)
    user.shortcut.start()
    assert user.next()[0] == "bound"
    portal.close_sessions()
    kind, message = user.next()
    assert kind == "lost" and "closed" in message


def test_no_shortcuts_portal_is_a_clear_message(bus):
    portal = PortalStandIn(bus, shortcuts_version=None)
    try:
        user = ShortcutEvents(bus)
        user.shortcut.start()
        kind, message = user.next()
        assert kind == "lost" and "no GlobalShortcuts" in message
    finally:
        portal.stop()


def test_no_portal_at_all(bus):
    connection = PortalConnection(bus, reply_seconds=2)
    try:
        assert not connection.portal_running()
        assert connection.version(SHORTCUTS) is None
    finally:
        connection.close()
    with pytest.raises(PortalError, match="session bus cannot be reached"):
        PortalConnection("unix:path=/nonexistent/bus")


def test_the_paste_chord_and_keys_go_as_keysyms(portal, bus, tmp_path):
    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=20)
    try:
        keyboard.chord("ctrl", "v")
        assert portal.keys == [(CTRL, 1), (V, 1), (V, 0), (CTRL, 0)]
        portal.keys.clear()
        keyboard.chord("ctrl", "shift", "v")  # the terminal chord
        assert portal.keys == [(CTRL, 1), (SHIFT, 1), (V, 1), (V, 0), (SHIFT, 0), (CTRL, 0)]
        portal.keys.clear()
        for key, sym in (("enter", RETURN), ("tab", TAB), ("backspace", BACKSPACE)):
            keyboard.chord(key)
            assert portal.keys == [(sym, 1), (sym, 0)]
            portal.keys.clear()
        keyboard.type("Hi!\n")
        assert portal.keys == [(0x48, 1), (0x48, 0), (0x69, 1), (0x69, 0), (0x21, 1), (0x21, 0),
                               (RETURN, 1), (RETURN, 0)]
        portal.keys.clear()
        # A layout may have no key for these: the desktop would drop them, so none is sent.
        with pytest.raises(NotInLayout):
            keyboard.type("café €5")
        assert portal.keys == []
        assert keysym("é") == 0xE9 and keysym("€") == 0x010020AC  # Latin-1 directly, the rest as Unicode
        session = next(s for s in portal.sessions.values() if s.kind == "remote")
        assert session.options["types"] == 1 and session.options["persist_mode"] == 2
        assert portal.dialogs == 1
    finally:
        keyboard.close()


def test_the_approval_is_asked_once_and_a_stale_token_asks_again(portal, bus, tmp_path):
    token = tmp_path / "token"
    first = PortalKeyboard(token, bus=bus, answer_seconds=20)
    first.chord("enter")
    first.close()
    assert portal.dialogs == 1 and token.read_text()
    assert token.stat().st_mode & 0o777 == 0o600
    again = PortalKeyboard(token, bus=bus, answer_seconds=20)  # the next start
    again.chord("enter")
    again.close()
    assert portal.dialogs == 1  # restored from the token: not asked again
    portal.revoke_tokens()  # the user revoked it in the desktop's privacy settings
    later = PortalKeyboard(token, bus=bus, answer_seconds=20)
    later.chord("enter")
    later.close()
    assert portal.dialogs == 2 and token.read_text()  # asked once more, and a new token kept


def test_declined_keyboard_access_is_an_error_that_says_so(portal, bus, tmp_path):
    portal.deny = True
    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=20)
    with pytest.raises(OSError, match="declined keyboard access"):
        keyboard.chord("ctrl", "v")
    assert portal.keys == [] and not (tmp_path / "token").exists()
    with pytest.raises(OSError, match="declined keyboard access"):
        keyboard.chord("ctrl", "v")  # not asked again at every paste (that dialog would block typing)
    assert portal.dialogs == 1
    portal.deny = False
    keyboard.open()  # the settings saved again: asked again, and granted
    keyboard.chord("ctrl", "v")
    assert portal.keys[0] == (CTRL, 1) and portal.dialogs == 2
    keyboard.close()


def test_keys_while_the_desktops_dialog_is_open_fail_at_once(portal, bus, tmp_path):
    import threading
    import time

    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=20)
    keyboard._lock.acquire()  # as while open() waits for the user's answer on its own thread
    try:
        started = time.monotonic()
        with pytest.raises(OSError, match="answer its dialog"):
            keyboard.chord("ctrl", "v")
        assert time.monotonic() - started < 10
    finally:
        keyboard._lock.release()
    opener = threading.Thread(target=keyboard.open)
    opener.start()
    opener.join(20)
    keyboard.chord("enter")
    assert portal.keys == [(RETURN, 1), (RETURN, 0)]
    keyboard.close()


def test_an_unanswered_keyboard_dialog_blocks_the_caller_once_at_most(portal, bus, tmp_path):
    portal.silent = True  # the dialog shows, nobody is there
    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=8)
    with pytest.raises(OSError, match="answer its dialog"):
        keyboard.chord("ctrl", "v")  # on the GUI thread: the dialog waits on a thread of its own
    assert keyboard.unanswered == "" and portal.dialogs == 1  # returned while the dialog still waits
    wait_for(lambda: keyboard.unanswered, 60, "the dialog's time to run out")
    with pytest.raises(OSError, match="no answer within 8 s") as failed:
        keyboard.chord("ctrl", "v")  # the next paste: the message, and no second dialog to wait for
    assert "Ask the desktop again" in str(failed.value) and portal.dialogs == 1
    portal.silent = False
    keyboard.open()  # the user asks again from the menu, and approves
    keyboard.chord("ctrl", "v")
    assert portal.keys[0] == (CTRL, 1) and portal.dialogs == 2
    keyboard.close()


def test_a_paste_while_the_first_dialog_waits_never_asks_a_second_time(portal, bus, tmp_path):
    """The app asks at start; the user dictates before answering, then declines: the paste that
    came meanwhile does not open a second dialog once the first is answered."""
    portal.silent = True
    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=6)
    opener = threading.Thread(target=_ask, args=(keyboard,), daemon=True)
    opener.start()  # the app's prepare_typing at start
    wait_for(lambda: portal.dialogs == 1, 30, "the first dialog")
    with pytest.raises(OSError, match="answer its dialog"):
        keyboard.chord("ctrl", "v")
    opener.join(60)
    wait_for(lambda: keyboard.unanswered, 30, "the first dialog's time to run out")
    # The paste's own ask, queued behind the first, has had its turn once its thread is gone.
    wait_for(lambda: not any(t.name == "remote-desktop" and t.is_alive() for t in threading.enumerate()), 30,
             "the paste's ask to end")
    assert portal.dialogs == 1 and keyboard.state() == "no answer to the desktop's dialog"
    keyboard.close()


def _ask(keyboard) -> None:
    try:
        keyboard.open()
    except OSError:
        pass  # read from the keyboard's state


def test_text_a_layout_may_lack_is_pasted_through_the_portals_keys(portal, bus, tmp_path):
    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=20)
    try:
        injector = Injector("type", RecordingClipboard(), None, lambda ms, fn: None, portal_keyboard=keyboard,
                            desktop=Desktop("wayland", "kde", remote_version=1))
        assert injector.deliver("plain words").ok
        assert [k for k in portal.keys if k[1] == 1][:2] == [(ord("p"), 1), (ord("l"), 1)]
        portal.keys.clear()
        delivered = injector.deliver("Grüße, €5")
        assert delivered.ok and delivered.method == "type"
        assert portal.keys == [(CTRL, 1), (V, 1), (V, 0), (CTRL, 0)]  # pasted, not dropped
        assert injector.clipboard.offered == ["Grüße, €5"]
    finally:
        keyboard.close()


class RecordingClipboard:
    """The clipboard a paste goes through, recorded (the real ones are tested on real desktops)."""

    def __init__(self) -> None:
        self.offered: list[str] = []

    def save(self):
        return None

    def offer(self, text: str) -> None:
        self.offered.append(text)

    def reads(self):
        return None

    def holds(self, text: str) -> bool:
        return False

    def discard(self, saved) -> None:
        pass


def test_a_closed_remote_session_is_opened_again(portal, bus, tmp_path):
    keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=20)
    keyboard.chord("tab")
    portal.close_sessions()
    with pytest.raises(OSError, match="refused the keys"):
        keyboard.chord("tab")
    keyboard.chord("tab")  # a new session, from the kept token: no dialog
    assert portal.keys[-2:] == [(TAB, 1), (TAB, 0)] and portal.dialogs == 1
    keyboard.close()


def test_remote_desktop_missing(bus, tmp_path):
    portal = PortalStandIn(bus, remote_version=None)
    try:
        keyboard = PortalKeyboard(tmp_path / "token", bus=bus, answer_seconds=20)
        with pytest.raises(OSError, match="no RemoteDesktop"):
            keyboard.chord("enter")
    finally:
        portal.stop()


def test_versions_are_read_from_the_portal(portal, bus):
    connection = PortalConnection(bus)
    try:
        assert connection.portal_running()
        assert connection.version(SHORTCUTS) == 1 and connection.version(REMOTE) == 2
    finally:
        connection.close()
