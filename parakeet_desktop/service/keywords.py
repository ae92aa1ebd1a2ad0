"""A request's own phrases for the recogniser to favour: OpenAI's ``prompt`` and the newer
``keywords`` list, read as the user's vocabulary is (engine/recognize/vocabulary.py) and added to it.

``keywords`` is a list of words or phrases: repeated form fields (``keywords`` or
``keywords[]``), a JSON array in one field, or one field of comma- or line-separated phrases;
a WebSocket stream sends a JSON list in its ``start`` message. ``prompt`` is free text in
OpenAI's API (words to expect, or the text before this audio); here its comma-, semicolon-,
line- or sentence-separated parts of up to four words are taken as phrases (names and terms), and longer
parts (sentences) are left out: phrase boosting favours exact phrases, not a style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engine.recognize import Vocabulary, clean_phrases
from .errors import ApiError, BadJson, client_json

MAX_REQUEST_PHRASES = 1000
MAX_PHRASE_CHARACTERS = 100
_PROMPT_PHRASE_WORDS = 4
MAX_FIELD_BYTES = 1 << 20  # a form field other than the file (Starlette's own limit)
HINT_FIELDS = frozenset({"prompt"})  # fields that are hints: left out when longer (uploads.py)
PROMPT_LEFT_OUT = f"The prompt was longer than {MAX_FIELD_BYTES >> 20} MiB and was left out."
_SEPARATORS = re.compile(r"[,;\n\r]+")
_PROMPT_SEPARATORS = re.compile(r"[,;\n\r]+|[.!?](?:\s+|$)")  # sentence ends too
_EDGES = " \t\"'“”‘’.!?:()[]"

NOT_AVAILABLE = ("The keywords were not used: the model is loaded without phrase boosting here "
                 "(it needs Triton on an NVIDIA GPU); the audio was recognised without them.")


@dataclass(frozen=True)
class RequestPhrases:
    """A request's phrases, and what was left out of its prompt (a warning for the client)."""

    phrases: tuple[str, ...] = ()
    warning: str | None = None


def form_phrases(form) -> RequestPhrases:
    """The phrases of an HTTP form's ``keywords`` and ``prompt`` fields."""
    values = [str(v) for v in form.getlist("keywords") + form.getlist("keywords[]")]
    keywords: list[str] = []
    for value in values:
        if value.lstrip().startswith("["):
            keywords += _json_list(value)
        else:
            keywords += _SEPARATORS.split(value)
    found = _combined(keywords, str(form.get("prompt") or ""))
    if "prompt" in getattr(form, "left_out", ()):  # uploads.Form: too long to read
        return RequestPhrases(found.phrases, " ".join(filter(None, (PROMPT_LEFT_OUT, found.warning))))
    return found


def message_phrases(message: dict) -> RequestPhrases:
    """The phrases of a stream's ``start`` message (``keywords`` list, ``prompt`` text)."""
    keywords = message.get("keywords") or []
    if isinstance(keywords, str):
        keywords = _SEPARATORS.split(keywords)
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ApiError(400, "keywords must be a list of strings.", param="keywords")
    prompt = message.get("prompt") or ""
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string.", param="prompt")
    return _combined(keywords, prompt)


def prompt_phrases(prompt: str) -> list[str]:
    parts = (part.strip(_EDGES) for part in _PROMPT_SEPARATORS.split(prompt))
    return [part for part in parts if part and len(part.split()) <= _PROMPT_PHRASE_WORDS]


def with_request_phrases(model, request: RequestPhrases) -> tuple[Vocabulary | None, str | None]:
    """The vocabulary a request decodes with: the user's own (in force on *model*) and the
    request's phrases, at the user's strength; None (the one in force) when the request brings
    none. The second value is what the client is warned of: phrases left out of its prompt,
    or phrases that could not be used at all."""
    if not request.phrases:
        return None, request.warning
    if not model.phrase_lists.available:
        return None, " ".join(filter(None, (NOT_AVAILABLE, request.warning)))
    own = model.vocabulary
    return Vocabulary(clean_phrases(own.phrases + request.phrases), own.strength), request.warning


def _json_list(value: str) -> list[str]:
    try:
        items = client_json(value)
    except BadJson as exc:
        raise ApiError(400, f"keywords looked like a JSON list but could not be read: {exc}.",
                       param="keywords") from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ApiError(400, "keywords must be a list of strings.", param="keywords")
    return items


def _combined(keywords: list[str], prompt: str) -> RequestPhrases:
    """The ``keywords`` the client listed, which must keep the limits (400 otherwise), and the
    prompt's phrases that fit beside them: a prompt is a hint, and a hint never fails a request.
    Parts that are too long or past the limit are left out and named in the warning."""
    listed = clean_phrases(keywords)
    if len(listed) > MAX_REQUEST_PHRASES:
        raise ApiError(400, f"{len(listed)} keywords were sent; a request may have at most "
                            f"{MAX_REQUEST_PHRASES}.", param="keywords")
    long = next((p for p in listed if len(p) > MAX_PHRASE_CHARACTERS), None)
    if long is not None:
        raise ApiError(400, f"A keyword is at most {MAX_PHRASE_CHARACTERS} characters: “{long[:40]}…”.",
                       param="keywords")
    hinted = [p for p in clean_phrases(prompt_phrases(prompt)) if p not in listed]
    fitting = [p for p in hinted if len(p) <= MAX_PHRASE_CHARACTERS]
    room = MAX_REQUEST_PHRASES - len(listed)
    left_out = []
    if len(fitting) < len(hinted):
        left_out.append(f"{len(hinted) - len(fitting)} longer than {MAX_PHRASE_CHARACTERS} characters")
    if len(fitting) > room:
        left_out.append(f"{len(fitting) - room} past the limit of {MAX_REQUEST_PHRASES} phrases")
        fitting = fitting[:room]
    # Plain ASCII: the warning also travels as an HTTP header.
    warning = f"Some phrases of the prompt were left out: {' and '.join(left_out)}." if left_out else None
    return RequestPhrases(listed + tuple(fitting), warning)
