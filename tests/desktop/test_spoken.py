"""Spoken commands: how an utterance's last words are read as a command (what each does to the
focused field is tests/desktop/test_delivery.py's; the end-to-end desktop test says them to the
real app)."""

from __future__ import annotations

import pytest

from parakeet_desktop.desktop.spoken import SpokenCommand, split_spoken
from parakeet_desktop.settings import DEFAULT_COMMANDS, SpokenAction, clean_commands


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
