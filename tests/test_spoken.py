"""Spoken commands: how an utterance's last words are read as a command, and what each command
does to the focused field (a field at the end of synthetic key presses), with the history keeping
what was said. The end-to-end desktop test says them to the real app."""

from __future__ import annotations

import pytest

from parakeet_desktop import config
from parakeet_desktop.engine.spoken import DEFAULT_COMMANDS, SpokenAction, SpokenCommand, clean_commands, split_spoken
from parakeet_desktop.history import History
from test_app_qt import PastingKeyboard


@pytest.mark.parametrize("said, expected", [
    ("New line.", SpokenCommand("", SpokenAction.NEW_LINE, "New line.")),
    ("two birds sang, new line", SpokenCommand("two birds sang", SpokenAction.NEW_LINE, "new line")),
    ("Two birds sang. New paragraph!", SpokenCommand("Two birds sang.", SpokenAction.NEW_PARAGRAPH, "New paragraph!")),
    ("SCRATCH THAT", SpokenCommand("", SpokenAction.SCRATCH, "SCRATCH THAT")),
    ("the dog ran — press enter.", SpokenCommand("the dog ran", SpokenAction.ENTER, "press enter.")),
    ("Press tab", SpokenCommand("", SpokenAction.TAB, "Press tab")),
    ("a new line of trees stood there", SpokenCommand("a new line of trees stood there")),  # inside: text
    ("press", SpokenCommand("press")),
    ("", SpokenCommand("")),
])
def test_a_command_is_heard_at_the_end_whatever_case_and_punctuation(said, expected):
    assert split_spoken(said, DEFAULT_COMMANDS) == expected


def test_the_longest_phrase_wins_and_a_users_list_is_cleaned():
    commands = DEFAULT_COMMANDS + [["paragraph", "new line"], ["  full   STOP ", "unknown action"], ["", "tab"]]
    assert split_spoken("the end new paragraph", commands).action is SpokenAction.NEW_PARAGRAPH
    assert split_spoken("the end paragraph", commands) == SpokenCommand("the end", SpokenAction.NEW_LINE, "paragraph")
    assert clean_commands(commands + [["New Line", "tab"]]) == DEFAULT_COMMANDS + [["paragraph", "new line"]]
    assert split_spoken("new line", []) == SpokenCommand("new line")


class Field(PastingKeyboard):
    """A multi-line text field: backspace removes a character, Enter and Tab are counted."""

    def __init__(self) -> None:
        super().__init__()
        self.pressed: list[str] = []

    def chord(self, *keys: str) -> None:
        super().chord(*keys)
        if keys == ("backspace",):
            self.received = self.received[:-1]
        elif keys in (("enter",), ("tab",)):
            self.pressed.append(keys[0])


@pytest.fixture
def dictating(qapp, tmp_path):
    from parakeet_desktop.ui.delivery import TextDelivery

    field = Field()
    delivery = TextDelivery(config.Settings(injection="type"), History(tmp_path / "history.sqlite3"), field)
    user_keys = [0]
    delivery.keys_pressed = lambda: user_keys[0]
    return delivery, field, user_keys


def _say(qtbot, delivery, text: str):
    said, done, unsaved = delivery.final(text, 1.0, "m")
    assert unsaved is None
    qtbot.wait(600)  # our keys "land" (the app counts the user's keys from there)
    return said, done


def test_commands_change_the_field_and_the_history_keeps_what_was_said(qtbot, dictating):
    delivery, field, user_keys = dictating
    _say(qtbot, delivery, "The river is cold.")
    _, done = _say(qtbot, delivery, "Scratch that.")
    assert done.ok and field.received == ""
    _say(qtbot, delivery, "Two birds sang. New line.")
    _say(qtbot, delivery, "a dog ran")
    assert field.received == "Two birds sang.\na dog ran "  # the trailing space of the settings
    _say(qtbot, delivery, "the cat slept scratch that")  # its own words are dropped, nothing else
    assert field.received == "Two birds sang.\na dog ran "
    _say(qtbot, delivery, "Scratch that.")
    _say(qtbot, delivery, "Scratch that.")  # and the one before, back to a fresh line
    assert field.received == ""
    _say(qtbot, delivery, "Hello, new paragraph")
    _say(qtbot, delivery, "goodbye press enter")
    assert field.received == "Hello\n\ngoodbye" and field.pressed == ["enter"]
    _, done = _say(qtbot, delivery, "scratch that")  # Enter may have sent it: not taken back
    assert not done.ok and "nothing to remove" in done.problem and field.received == "Hello\n\ngoodbye"
    said = [entry.text for entry in reversed(delivery.history.recent(20))]
    assert said == ["The river is cold.", "Scratch that.", "Two birds sang. New line.", "a dog ran",
                    "the cat slept scratch that", "Scratch that.", "Scratch that.", "Hello, new paragraph",
                    "goodbye press enter", "scratch that"]


def test_scratch_that_leaves_the_field_alone_once_the_user_typed(qtbot, dictating):
    delivery, field, user_keys = dictating
    _say(qtbot, delivery, "the first words")
    user_keys[0] += 3  # the user typed something after them
    field.received += " and mine"
    _, done = _say(qtbot, delivery, "scratch that")
    assert not done.ok and "you typed since" in done.problem
    assert field.received == "the first words  and mine"


def test_commands_can_be_turned_off(qtbot, qapp, tmp_path):
    from parakeet_desktop.ui.delivery import TextDelivery

    field = Field()
    delivery = TextDelivery(config.Settings(injection="type", commands_enabled=False),
                            History(tmp_path / "history.sqlite3"), field)
    _say(qtbot, delivery, "please press enter")
    assert field.received == "please press enter " and field.pressed == []
