"""Spoken commands as a setting: the actions a phrase can stand for, with their labels, the
phrases a new user starts with, and the user's list as it is saved (desktop/spoken.py finds them
at the end of an utterance)."""

from __future__ import annotations

import enum
import re


class SpokenAction(enum.StrEnum):
    NEW_LINE = "new line"
    NEW_PARAGRAPH = "new paragraph"
    SCRATCH = "scratch"
    ENTER = "enter"
    TAB = "tab"

    @property
    def label(self) -> str:
        return _TITLES[self]


ACTIONS = frozenset(action.value for action in SpokenAction)

_TITLES = {
    SpokenAction.NEW_LINE: "Line break",
    SpokenAction.NEW_PARAGRAPH: "Blank line (new paragraph)",
    SpokenAction.SCRATCH: "Remove what was just dictated",
    SpokenAction.ENTER: "Press Enter",
    SpokenAction.TAB: "Press Tab",
}

DEFAULT_COMMANDS = [["new line", SpokenAction.NEW_LINE.value], ["new paragraph", SpokenAction.NEW_PARAGRAPH.value],
                    ["scratch that", SpokenAction.SCRATCH.value], ["press enter", SpokenAction.ENTER.value],
                    ["press tab", SpokenAction.TAB.value]]

_WORD = re.compile(r"[\w']+")


def words_of(phrase: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD.findall(phrase))


def clean_commands(pairs) -> list[list[str]]:
    """The user's list as saved: phrases with words, known actions, one entry per phrase."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for phrase, action in pairs:
        phrase = " ".join(str(phrase).split())
        if words_of(phrase) and action in ACTIONS:
            seen.setdefault(words_of(phrase), [phrase, action])
    return list(seen.values())
