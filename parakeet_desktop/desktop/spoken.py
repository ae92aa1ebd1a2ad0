"""Spoken commands while dictating: an utterance that is, or ends with, a command phrase ("new
line", "scratch that", "press enter", ...) does that instead of typing the phrase.

A command is recognised whatever case and punctuation the model gave it ("Scratch that.",
"…the river, new line"), only at the end of an utterance: the same words inside a sentence are
text. The user's list maps phrases to the actions below; the phrases are theirs to change.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


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

# What each action types after the utterance's text (the keys are pressed instead, see ui/).
BREAKS = {SpokenAction.NEW_LINE: "\n", SpokenAction.NEW_PARAGRAPH: "\n\n"}
KEYS = {SpokenAction.ENTER: "enter", SpokenAction.TAB: "tab"}

DEFAULT_COMMANDS = [["new line", SpokenAction.NEW_LINE.value], ["new paragraph", SpokenAction.NEW_PARAGRAPH.value],
                    ["scratch that", SpokenAction.SCRATCH.value], ["press enter", SpokenAction.ENTER.value],
                    ["press tab", SpokenAction.TAB.value]]

_WORD = re.compile(r"[\w']+")
# Left after the text when its command is taken off: the pause before the command.
_TRAILING = " \t,;:–—-"


@dataclass(frozen=True)
class SpokenCommand:
    """An utterance split into its text and the command it ended with (None: it is all text)."""

    text: str
    action: SpokenAction | None = None
    spoken: str = ""  # the command as the model wrote it ("Scratch that.")


def words_of(phrase: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD.findall(phrase))


def split_spoken(text: str, commands: list[list[str]] | list[tuple[str, str]]) -> SpokenCommand:
    """*text* without a command phrase it ends with, and that command's action; the longest
    phrase wins ("new paragraph" over a user's "paragraph"). Unknown actions are ignored."""
    spans = list(_WORD.finditer(text))
    spoken = [m.group().lower() for m in spans]
    best: tuple[int, SpokenAction] | None = None
    for phrase, action in commands:
        words = words_of(phrase)
        if not words or action not in ACTIONS or len(words) > len(spoken):
            continue
        if tuple(spoken[len(spoken) - len(words):]) == words and (best is None or len(words) > best[0]):
            best = (len(words), SpokenAction(action))
    if best is None:
        return SpokenCommand(text)
    start = spans[len(spans) - best[0]].start()
    return SpokenCommand(text[:start].rstrip(_TRAILING), best[1], text[start:].strip())


def clean_commands(pairs) -> list[list[str]]:
    """The user's list as saved: phrases with words, known actions, one entry per phrase."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for phrase, action in pairs:
        phrase = " ".join(str(phrase).split())
        if words_of(phrase) and action in ACTIONS:
            seen.setdefault(words_of(phrase), [phrase, action])
    return list(seen.values())
