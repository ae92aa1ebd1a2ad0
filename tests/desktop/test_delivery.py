"""Final texts to the focused field (a field at the end of synthetic key presses): spoken
commands, spacing, "scratch that", with the history keeping what was said. Qt-free: the
delivery's timer is run by the test."""

from __future__ import annotations

import pytest

from parakeet_desktop.history.store import History
from parakeet_desktop.settings import config


class Field:
    """A multi-line text field at the end of synthetic key presses: typed text lands, backspace
    removes a character, Enter and Tab are counted."""

    def __init__(self) -> None:
        self.received = ""
        self.pressed: list[str] = []

    def type(self, text: str) -> None:
        self.received += text

    def chord(self, *keys: str) -> None:
        if keys == ("backspace",):
            self.received = self.received[:-1]
        elif keys in (("enter",), ("tab",)):
            self.pressed.append(keys[0])


class Timers:
    """The delivery's timer (desktop.inject.Later), run when the test lets time pass."""

    def __init__(self) -> None:
        self.due: list = []

    def later(self, _ms: int, fn) -> None:
        self.due.append(fn)

    def pass_time(self) -> None:
        due, self.due = self.due, []
        for fn in due:
            fn()


class NoClipboard:
    """Typing never touches the clipboard: a clipboard that says so if it is used."""

    def __getattr__(self, name):
        raise AssertionError(f"the clipboard was used ({name}) by typing")


def _delivery(settings: config.Settings, tmp_path):
    from parakeet_desktop.desktop.delivery import TextDelivery

    timers, field = Timers(), Field()
    delivery = TextDelivery(settings, History(tmp_path / "history.sqlite3"), field, NoClipboard(), timers.later)
    return delivery, field, timers


@pytest.fixture
def dictating(tmp_path):
    delivery, field, timers = _delivery(config.Settings(injection="type"), tmp_path)
    user_keys = [0]
    delivery.keys_pressed = lambda: user_keys[0]
    return delivery, field, user_keys, timers


def _say(delivery, timers, text: str):
    said, done, unsaved = delivery.final(text, 1.0, "m")
    assert unsaved is None
    timers.pass_time()  # our keys "land" (the app counts the user's keys from there)
    return said, done


def test_commands_change_the_field_and_the_history_keeps_what_was_said(dictating):
    delivery, field, user_keys, timers = dictating
    _say(delivery, timers, "The river is cold.")
    _, done = _say(delivery, timers, "Scratch that.")
    assert done.ok and field.received == ""
    _say(delivery, timers, "Two birds sang. New line.")
    _say(delivery, timers, "a dog ran")
    assert field.received == "Two birds sang.\na dog ran "  # the trailing space of the settings
    _say(delivery, timers, "the cat slept scratch that")  # its own words are dropped, nothing else
    assert field.received == "Two birds sang.\na dog ran "
    _say(delivery, timers, "Scratch that.")
    _say(delivery, timers, "Scratch that.")  # and the one before, back to a fresh line
    assert field.received == ""
    _say(delivery, timers, "Hello, new paragraph")
    _say(delivery, timers, "goodbye press enter")
    assert field.received == "Hello\n\ngoodbye" and field.pressed == ["enter"]
    _, done = _say(delivery, timers, "scratch that")  # Enter may have sent it: not taken back
    assert not done.ok and "nothing to remove" in done.problem and field.received == "Hello\n\ngoodbye"
    said = [entry.text for entry in reversed(delivery.history.recent(20))]
    assert said == ["The river is cold.", "Scratch that.", "Two birds sang. New line.", "a dog ran",
                    "the cat slept scratch that", "Scratch that.", "Scratch that.", "Hello, new paragraph",
                    "goodbye press enter", "scratch that"]


def test_scratch_that_leaves_the_field_alone_once_the_user_typed(dictating):
    delivery, field, user_keys, timers = dictating
    _say(delivery, timers, "the first words")
    user_keys[0] += 3  # the user typed something after them
    field.received += " and mine"
    _, done = _say(delivery, timers, "scratch that")
    assert not done.ok and "you typed since" in done.problem
    assert field.received == "the first words  and mine"


def test_commands_can_be_turned_off(tmp_path):
    delivery, field, timers = _delivery(config.Settings(injection="type", commands_enabled=False), tmp_path)
    _say(delivery, timers, "please press enter")
    assert field.received == "please press enter " and field.pressed == []
