"""Spoken commands while dictating: an utterance that is, or ends with, a command phrase ("new
line", "scratch that", "press enter", ...) does that instead of typing the phrase.

A command is recognised whatever case and punctuation the model gave it ("Scratch that.",
"…the river, new line"), only at the end of an utterance: the same words inside a sentence are
text. The user's list maps phrases to the actions below; the phrases are theirs to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..settings import ACTIONS, SpokenAction, words_of

# What each action types after the utterance's text (the keys are pressed instead, see ui/).
BREAKS = {SpokenAction.NEW_LINE: "\n", SpokenAction.NEW_PARAGRAPH: "\n\n"}
KEYS = {SpokenAction.ENTER: "enter", SpokenAction.TAB: "tab"}

_WORD = re.compile(r"[\w']+")
# Left after the text when its command is taken off: the pause before the command.
_TRAILING = " \t,;:–—-"


@dataclass(frozen=True)
class SpokenCommand:
    """An utterance split into its text and the command it ended with (None: it is all text)."""

    text: str
    action: SpokenAction | None = None
    spoken: str = ""  # the command as the model wrote it ("Scratch that.")


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
