"""The hotkey's words and gestures, and how consecutive utterances are joined."""

from __future__ import annotations

import sys

import pytest

from parakeet_desktop.desktop.hotkey import Gesture, GestureAction, Hotkey, HotkeyError, parse_hotkey
from parakeet_desktop.desktop.inject import Injector, Spacer
from parakeet_desktop.settings import Injection


def test_hotkeys_parse_as_people_write_them():
    assert parse_hotkey("ctrl+alt+space") == Hotkey(frozenset({"ctrl", "alt"}), "space")
    assert parse_hotkey("F9") == Hotkey(frozenset(), "f9")
    assert parse_hotkey("Control + Shift") == Hotkey(frozenset({"ctrl", "shift"}), None)
    assert str(parse_hotkey("shift+win+h")) == "shift+super+h"
    for bad, why in (("", "not a key combination"), ("ctrl+a+b", "more than one"),
                     ("shift", "would fire while typing"), ("ctrl+banana", "not a key name")):
        with pytest.raises(HotkeyError, match=why):
            parse_hotkey(bad)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux console's keys")
def test_the_systems_own_chords_are_refused_on_linux():
    """Ctrl+Alt+F1 to F12 switch consoles (an app never hears them: the session goes away) and
    Ctrl+Alt+Delete restarts; the same F-keys with other modifiers, and F13 up, are free."""
    for chord in ("ctrl+alt+f8", "Control+Alt+F1", "ctrl+alt+shift+f12", "ctrl+alt+delete"):
        with pytest.raises(HotkeyError, match="system's own"):
            parse_hotkey(chord)
    assert parse_hotkey("ctrl+shift+f8").key == "f8" and parse_hotkey("ctrl+alt+f13").key == "f13"
    assert parse_hotkey("alt+f9").key == "f9"


def test_hold_is_push_to_talk_and_a_tap_toggles_hands_free():
    gesture = Gesture(tap_seconds=0.3)
    assert gesture.press(10.0) is GestureAction.START_PUSH_TO_TALK
    assert gesture.press(10.5) is None  # key repeat while held
    assert gesture.release(12.0) is GestureAction.STOP

    assert gesture.press(20.0) is GestureAction.START_PUSH_TO_TALK
    assert gesture.release(20.1) is GestureAction.KEEP_HANDS_FREE
    assert gesture.press(25.0) is None
    assert gesture.release(25.1) is GestureAction.STOP  # the next tap ends hands-free

    gesture.press(30.0)
    gesture.release(30.1)
    gesture.reset()  # stopped from the menu meanwhile
    assert gesture.press(40.0) is GestureAction.START_PUSH_TO_TALK


def test_utterances_are_joined_with_one_space_and_punctuation_sticks():
    spacer = Spacer(trailing_space=False)
    assert spacer.join("Hello there") == "Hello there"
    assert spacer.join("how are you") == " how are you"
    assert spacer.join(", and you?") == ", and you?"
    assert spacer.join("   ") == ""
    spacer.reset()
    assert spacer.join("Fresh start") == "Fresh start"
    now = [100.0]
    timed = Spacer(trailing_space=False, same_flow_seconds=30, clock=lambda: now[0])
    assert timed.join("First.") + timed.join("Second.") == "First. Second."
    now[0] += 31  # a while later, perhaps in another window
    assert timed.join("Third.") == "Third."
    trailing = Spacer(trailing_space=True)
    assert trailing.join("One.") + trailing.join("Two.") == "One. Two. "


def test_auto_picks_the_method_per_desktop():
    def which(tools):
        return lambda name: f"/usr/bin/{name}" if name in tools else None

    clipboard = object()
    assert Injector("auto", clipboard, None, None, platform="x11").method == "paste"
    assert Injector("auto", clipboard, None, None, platform="windows").method == "paste"
    assert Injector("auto", clipboard, None, None, platform="wayland", which=which({"wtype"})).method == "wtype"
    assert Injector("auto", clipboard, None, None, platform="wayland", which=which({"ydotool"})).method == "ydotool"
    assert Injector("auto", clipboard, None, None, platform="wayland", which=which(set())).method == "clipboard"
    assert Injector("type", clipboard, None, None, platform="wayland").method == "type"


def test_the_clipboard_as_the_chosen_way_leaves_the_words_there_and_calls_it_done():
    """Chosen in the settings, the clipboard is no failure to report; where the desktop forces it,
    the person is told why the text was not typed."""

    class Kept:
        text = ""

        def set_text(self, text: str) -> None:
            self.text = text

    chosen, forced = Kept(), Kept()
    done = Injector("clipboard", chosen, None, None, platform="x11").deliver("naïve café")
    assert done.ok and done.method is Injection.CLIPBOARD and chosen.text == "naïve café"
    told = Injector("auto", forced, None, None, platform="wayland", which=lambda _name: None).deliver("hello")
    assert not told.ok and told.method is Injection.CLIPBOARD and forced.text == "hello"
    assert "paste it with Ctrl+V" in told.problem


def _tool_runner():
    """What a Wayland typing tool is run with (the OS edge), each run succeeding."""
    calls = []

    class Done:
        returncode, stderr = 0, ""

    def run(args, **_kwargs):
        calls.append(args)
        return Done()

    return calls, run


def test_wayland_tools_get_the_text_as_one_argument():
    calls, run = _tool_runner()
    injector = Injector("wtype", object(), None, None, platform="wayland", run=run,
                        which=lambda name: f"/usr/bin/{name}")
    assert injector.deliver("-rm -rf, naïve café").ok
    assert calls == [["/usr/bin/wtype", "-k", "Shift_L", "--", "-rm -rf, naïve café"]]


def test_keys_for_commands_reach_every_typing_method_or_say_why_not():
    calls, run = _tool_runner()
    for method in ("wtype", "ydotool"):
        injector = Injector(method, object(), None, None, platform="wayland", run=run,
                            which=lambda name: f"/usr/bin/{name}")
        assert injector.press("backspace", 2).ok and injector.press("enter").ok
    assert calls == [["/usr/bin/wtype", "-k", "Shift_L", "-k", "BackSpace", "-k", "BackSpace"],
                     ["/usr/bin/wtype", "-k", "Shift_L", "-k", "Return"],
                     ["/usr/bin/ydotool", "key", "14:1", "14:0", "14:1", "14:0"],
                     ["/usr/bin/ydotool", "key", "28:1", "28:0"]]
    clipboard_only = Injector("auto", object(), None, None, platform="wayland", run=run, which=lambda name: None)
    refused = clipboard_only.press("tab")
    assert not refused.ok and "press Tab yourself" in refused.problem


def test_scratch_that_forgets_what_went_to_another_window():
    from parakeet_desktop.desktop.take_back import TakeBack, Typed

    book = TakeBack()
    book.typed(Typed("one ", (True, 0.0), "window-a"), keys=0)
    book.settled(5)
    book.typed(Typed("two ", (False, 1.0), "window-b"), keys=5)  # another window: "one" is out of reach
    book.settled(9)
    typed, why = book.take("window-b", 9)
    assert typed.text == "two " and why is None
    typed, why = book.take("window-b", 9)
    assert typed is None and "nothing to remove" in why
    book.typed(Typed("three ", (True, 0.0), "window-b"), keys=9)
    book.settled(11)
    typed, why = book.take("window-c", 11)
    assert typed is None and "focus moved" in why


def test_the_paste_keys_setting_decides_the_chord_where_the_window_cannot_be_told():
    class Keys:
        def __init__(self):
            self.chords = []

        def chord(self, *keys):
            self.chords.append(keys)

    class Board:
        def save(self):
            return None

        def offer(self, text):
            pass

    chords = (("auto", ("ctrl", "v")), ("ctrl+v", ("ctrl", "v")), ("ctrl+shift+v", ("ctrl", "shift", "v")))
    for setting, chord in chords:
        keys = Keys()
        injector = Injector("paste", Board(), keys, lambda ms, fn: None, platform="wayland", paste_keys=setting,
                            window_class=lambda: "")
        assert injector.deliver("words").ok and keys.chords == [chord]
    keys = Keys()
    Injector("paste", Board(), keys, lambda ms, fn: None, platform="wayland", window_class=lambda: "foot").deliver("ls")
    assert keys.chords == [("ctrl", "shift", "v")]  # auto, in a terminal sway named
