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


class Action(enum.StrEnum):
    NEW_LINE = "new line"
    NEW_PARAGRAPH = "new paragraph"
    SCRATCH = "scratch"
    ENTER = "enter"
    TAB = "tab"

    @property
    def title(self) -> str:
        return _TITLES[self]


ACTIONS = frozenset(action.value for action in Action)

_TITLES = {
    Action.NEW_LINE: "Line break",
    Action.NEW_PARAGRAPH: "Blank line (new paragraph)",
    Action.SCRATCH: "Remove what was just dictated",
    Action.ENTER: "Press Enter",
    Action.TAB: "Press Tab",
}

# What each action types after the utterance's text (the keys are pressed instead, see ui/).
BREAKS = {Action.NEW_LINE: "\n", Action.NEW_PARAGRAPH: "\n\n"}
KEYS = {Action.ENTER: "enter", Action.TAB: "tab"}

DEFAULT_COMMANDS = [["new line", Action.NEW_LINE.value], ["new paragraph", Action.NEW_PARAGRAPH.value],
                    ["scratch that", Action.SCRATCH.value], ["press enter", Action.ENTER.value],
                    ["press tab", Action.TAB.value]]

_WORD = re.compile(r"[\w']+")
# Left after the text when its command is taken off: the pause before the command.
_TRAILING = " \t,;:–—-"


@dataclass(frozen=True)
class Command:
    """An utterance split into its text and the command it ended with (None: it is all text)."""

    text: str
    action: Action | None = None
    spoken: str = ""  # the command as the model wrote it ("Scratch that.")


def words_of(phrase: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD.findall(phrase))


def split_command(text: str, commands: list[list[str]] | list[tuple[str, str]]) -> Command:
    """*text* without a command phrase it ends with, and that command's action; the longest
    phrase wins ("new paragraph" over a user's "paragraph"). Unknown actions are ignored."""
    spans = list(_WORD.finditer(text))
    spoken = [m.group().lower() for m in spans]
    best: tuple[int, Action] | None = None
    for phrase, action in commands:
        words = words_of(phrase)
        if not words or action not in ACTIONS or len(words) > len(spoken):
            continue
        if tuple(spoken[len(spoken) - len(words):]) == words and (best is None or len(words) > best[0]):
            best = (len(words), Action(action))
    if best is None:
        return Command(text)
    start = spans[len(spans) - best[0]].start()
    return Command(text[:start].rstrip(_TRAILING), best[1], text[start:].strip())


def clean_commands(pairs) -> list[list[str]]:
    """The user's list as saved: phrases with words, known actions, one entry per phrase."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for phrase, action in pairs:
        phrase = " ".join(str(phrase).split())
        if words_of(phrase) and action in ACTIONS:
            seen.setdefault(words_of(phrase), [phrase, action])
    return list(seen.values())
