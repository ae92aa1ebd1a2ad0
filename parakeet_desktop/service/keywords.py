"""A request's own phrases for the recogniser to favour: OpenAI's ``prompt`` and the newer
``keywords`` list, read as the user's vocabulary is (engine/vocabulary.py) and added to it.

``keywords`` is a list of words or phrases: repeated form fields (``keywords`` or
``keywords[]``), a JSON array in one field, or one field of comma- or line-separated phrases;
a WebSocket stream sends a JSON list in its ``start`` message. ``prompt`` is free text in
OpenAI's API (words to expect, or the text before this audio); here its comma-, semicolon-,
line- or sentence-separated parts of up to four words are taken as phrases (names and terms), and longer
parts (sentences) are left out: phrase boosting favours exact phrases, not a style.
"""

from __future__ import annotations

import json
import re

from ..engine.vocabulary import Vocabulary, clean_phrases
from .errors import ApiError

MAX_REQUEST_PHRASES = 1000
MAX_PHRASE_CHARACTERS = 100
_PROMPT_PHRASE_WORDS = 4
_SEPARATORS = re.compile(r"[,;\n\r]+")
_PROMPT_SEPARATORS = re.compile(r"[,;\n\r]+|[.!?](?:\s+|$)")  # sentence ends too
_EDGES = " \t\"'“”‘’.!?:()[]"

NOT_AVAILABLE = ("The keywords were not used: the model is loaded without phrase boosting here "
                 "(it needs Triton on an NVIDIA GPU); the audio was recognised without them.")


def form_phrases(form) -> tuple[str, ...]:
    """The phrases of an HTTP form's ``keywords`` and ``prompt`` fields."""
    values = [str(v) for v in form.getlist("keywords") + form.getlist("keywords[]")]
    phrases: list[str] = []
    for value in values:
        if value.lstrip().startswith("["):
            phrases += _json_list(value)
        else:
            phrases += _SEPARATORS.split(value)
    return _checked(phrases + prompt_phrases(str(form.get("prompt") or "")))


def message_phrases(message: dict) -> tuple[str, ...]:
    """The phrases of a stream's ``start`` message (``keywords`` list, ``prompt`` text)."""
    keywords = message.get("keywords") or []
    if isinstance(keywords, str):
        keywords = _SEPARATORS.split(keywords)
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ApiError(400, "keywords must be a list of strings.", param="keywords")
    prompt = message.get("prompt") or ""
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string.", param="prompt")
    return _checked(keywords + prompt_phrases(prompt))


def prompt_phrases(prompt: str) -> list[str]:
    parts = (part.strip(_EDGES) for part in _PROMPT_SEPARATORS.split(prompt))
    return [part for part in parts if part and len(part.split()) <= _PROMPT_PHRASE_WORDS]


def with_request_phrases(model, phrases: tuple[str, ...]) -> tuple[Vocabulary | None, str | None]:
    """The vocabulary a request decodes with: the user's own (in force on *model*) and the
    request's phrases, at the user's strength; None (the one in force) when the request brings
    none. The second value says why the phrases could not be used, if so."""
    if not phrases:
        return None, None
    if not model.phrase_lists.available:
        return None, NOT_AVAILABLE
    own = model.vocabulary
    return Vocabulary(clean_phrases(own.phrases + phrases), own.strength), None


def _json_list(value: str) -> list[str]:
    try:
        items = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"keywords looked like a JSON list but could not be read: {exc.msg}.",
                       param="keywords") from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ApiError(400, "keywords must be a list of strings.", param="keywords")
    return items


def _checked(phrases: list[str]) -> tuple[str, ...]:
    cleaned = clean_phrases(phrases)
    if len(cleaned) > MAX_REQUEST_PHRASES:
        raise ApiError(400, f"{len(cleaned)} keywords were sent; a request may have at most "
                            f"{MAX_REQUEST_PHRASES}.", param="keywords")
    long = next((p for p in cleaned if len(p) > MAX_PHRASE_CHARACTERS), None)
    if long is not None:
        raise ApiError(400, f"A keyword is at most {MAX_PHRASE_CHARACTERS} characters: “{long[:40]}…”.",
                       param="keywords")
    return cleaned
