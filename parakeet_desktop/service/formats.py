"""Transcripts in the response formats of OpenAI's ``/v1/audio/transcriptions``.

``verbose_json`` follows OpenAI's ``TranscriptionVerbose``: duration, language, text, and the
``segments`` and/or ``words`` asked for with ``timestamp_granularities[]`` (segments when none are
asked for, as OpenAI does). Segment fields that only Whisper computes get neutral values: no
tokens, temperature 0, log-probability 0, compression ratio 1, no-speech probability 0.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..engine import export
from ..engine.registry import LANGUAGE_NAMES
from ..engine.transcript import Segment, Transcript, Word

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("word", "segment")


def _seconds(value: float) -> float:
    return round(value, 3)


def language_name(code: str | None, model_languages: tuple[str, ...] | None) -> str:
    """OpenAI names the language in full ("english"); the request's language, else the model's
    only language, else "unknown" (Parakeet does not say which language it heard)."""
    if code is None and model_languages and len(model_languages) == 1:
        code = model_languages[0]
    return LANGUAGE_NAMES.get(code or "", code or "unknown")


def verbose(transcript: Transcript, granularities: tuple[str, ...], language: str) -> dict:
    document = {"task": "transcribe", "language": language, "duration": _seconds(transcript.duration),
                "text": transcript.text,
                "usage": {"type": "duration", "seconds": _seconds(transcript.duration)}}
    if "segment" in granularities or not granularities:
        document["segments"] = [
            {"id": n, "seek": 0, "start": _seconds(s.start), "end": _seconds(s.end), "text": s.text,
             "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0,
             "no_speech_prob": 0.0}
            for n, s in enumerate(transcript.segments)]
    if "word" in granularities:
        document["words"] = [{"word": w.text, "start": _seconds(w.start), "end": _seconds(w.end)}
                             for w in transcript.words]
    return document


def response(transcript: Transcript, fmt: str, granularities: tuple[str, ...], language: str) -> Response:
    if fmt == "json":
        return JSONResponse({"text": transcript.text,
                             "usage": {"type": "duration", "seconds": _seconds(transcript.duration)}})
    if fmt == "verbose_json":
        return JSONResponse(verbose(transcript, granularities, language))
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    return PlainTextResponse(export.render(transcript, fmt))


def transcript_from_verbose(document: dict, source: str, model: str) -> Transcript:
    """The transcript behind a ``verbose_json`` answer with both granularities (what the
    ``transcribe`` command gets from a running service, to write the same files it would)."""
    words = [Word(w["word"], w["start"], w["end"]) for w in document.get("words", [])]
    segments, taken = [], 0
    for segment in document.get("segments", []):
        mine = []
        while taken < len(words) and (not mine or words[taken].start < segment["end"]) \
                and words[taken].start <= segment["end"] + 0.001:
            mine.append(words[taken])
            taken += 1
        segments.append(Segment(segment["start"], segment["end"], segment["text"].strip(), tuple(mine)))
    return Transcript(source=source, duration=document["duration"], segments=segments, model=model,
                      warnings=list(document.get("warnings", [])))
