"""The language of a piece of recognised text, among the languages the model knows.

Parakeet v3 recognises 25 languages without being told which, and says nothing of which it
heard; the text tells. py3langid (the maintained fork of langid.py) identifies it: its model
ships inside the package (nothing is downloaded), it covers all 25 of Parakeet's languages,
Maltese included, it can be restricted to a set of languages, and it takes well under a
millisecond a sentence. Its probabilities are normalised over the languages allowed, so the
confidence says how sure it is among those.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ..model import LANGUAGE_NAMES

logger = logging.getLogger(__name__)
_loading = threading.Lock()


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    confidence: float  # 0 to 1; 1.0 when the caller named it or the model knows no other

    @property
    def name(self) -> str:
        return LANGUAGE_NAMES.get(self.code, self.code)

    def as_dict(self) -> dict:
        return {"language": self.code, "language_confidence": round(self.confidence, 3)}


def identify(text: str, languages: Iterable[str] | None) -> Language | None:
    """The language of *text* among *languages* (the model's; all of Parakeet's when None): the
    only one of a one-language model; None for text without letters."""
    allowed = tuple(sorted(set(languages or LANGUAGE_NAMES)))
    if len(allowed) == 1:
        return Language(allowed[0], 1.0)
    if not any(ch.isalpha() for ch in text):
        return None
    try:
        code, probability = _identifier(allowed).classify(text)
    except Exception as exc:  # a broken install: the text is what matters, its language is a detail
        _say_once(f"The language of texts cannot be told ({exc}); they are kept without it.")
        return None
    if code not in allowed:  # the model's languages are none the identifier knows
        return None
    return Language(str(code), float(probability))


def language_of(text: str, model_name: str) -> Language | None:
    """The language of a text whose model is known by name only (the history's entries): among
    the registry's languages of that model, or all of Parakeet's for a model file."""
    from ..model import model_languages

    return identify(text, model_languages(model_name, None))


def language_code_of(text: str, model_name: str) -> str | None:
    """:func:`language_of`'s code, as the history keeps it."""
    found = language_of(text, model_name)
    return found.code if found is not None else None


def unsupported(code: str, languages: tuple[str, ...] | None, model_name: str) -> str | None:
    """Why a model cannot be told to recognise language *code*, or None when it can (or its
    languages are not known: a .nemo file of unknown origin is taken at its word)."""
    if languages is None or code in languages:
        return None
    asked = LANGUAGE_NAMES.get(code, "").capitalize() or repr(code)
    known = ", ".join(LANGUAGE_NAMES.get(c, c).capitalize() for c in languages)
    return f"{model_name} does not recognise {asked}; it knows {known} ({', '.join(languages)})."


def named(code: str) -> Language:
    """A language the caller named: reported as it is, with full confidence."""
    return Language(code, 1.0)


def warm_up(languages: Iterable[str] | None = None) -> None:
    """Load the identifier for *languages* now (half a second), so that the first text to be
    identified is not kept waiting: the desktop calls it on a thread of its own at start."""
    allowed = tuple(sorted(set(languages or LANGUAGE_NAMES)))
    if len(allowed) > 1:
        try:
            _identifier(allowed)
        except Exception as exc:
            _say_once(f"The language of texts cannot be told ({exc}); they are kept without it.")


@functools.cache
def _say_once(message: str) -> None:
    logger.warning("%s", message)


@functools.lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    with _loading:  # about half a second; the cache keeps one for each set of languages
        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        known = set(identifier.nb_classes)
        identifier.set_languages([code for code in languages if code in known] or None)
    return identifier
