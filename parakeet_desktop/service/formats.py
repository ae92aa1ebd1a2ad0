"""Transcripts in the response formats of OpenAI's ``/v1/audio/transcriptions``.

``verbose_json`` follows OpenAI's ``TranscriptionVerbose``: duration, language, text, and the
``segments`` and/or ``words`` asked for with ``timestamp_granularities[]`` (segments when none are
asked for, as OpenAI does). Segment fields that only Whisper computes get neutral values: no
tokens, temperature 0, log-probability 0, compression ratio 1, no-speech probability 0.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from .. import export
from ..engine.recognize import Language, Transcript, named
from .options import Granularity, ResponseFormat


def _seconds(value: float) -> float:
    return round(value, 3)


def reported_language(transcript: Transcript, requested: str | None) -> Language | None:
    """The request's language when it named one, else the one its text is in (found when the
    transcript was put together: engine/recognize/files.py)."""
    return named(requested) if requested else transcript.language


def verbose(transcript: Transcript, granularities: tuple[Granularity, ...], language: Language | None) -> dict:
    # OpenAI names the language in full ("english"); the confidence is not OpenAI's.
    document = {"task": "transcribe", "language": language.name if language else "unknown",
                "language_confidence": round(language.confidence, 3) if language else 0.0,
                "duration": _seconds(transcript.duration),
                "text": transcript.text,
                "usage": {"type": "duration", "seconds": _seconds(transcript.duration)}}
    if "segment" in granularities or not granularities:
        document["segments"] = [
            {"id": n, "seek": 0, "start": _seconds(s.start), "end": _seconds(s.end), "text": s.text,
             "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0,
             "no_speech_prob": 0.0, **_speaker(transcript, s)}
            for n, s in enumerate(transcript.segments)]
    if transcript.warnings:  # not OpenAI's: what the decoder noticed about the file
        document["warnings"] = list(transcript.warnings)
    if "word" in granularities:
        document["words"] = [{"word": w.text, "start": _seconds(w.start), "end": _seconds(w.end),
                              **_speaker(transcript, w)} for w in transcript.words]
    _speaker_extras(transcript, document)
    return document


def _speaker(transcript: Transcript, item) -> dict:
    """A segment's or word's ``speaker`` (not OpenAI's in verbose_json), when speakers were asked for."""
    return {"speaker": transcript.speaker_name(item.speaker)} if transcript.speakers else {}


def _speaker_extras(transcript: Transcript, document: dict) -> None:
    """Not OpenAI's: how reference clips named the speakers, and the speakers' names."""
    if transcript.speakers:
        document["speakers"] = list(transcript.speakers)
    if transcript.speaker_matches:
        document["speaker_matches"] = transcript.speaker_matches


def diarized(transcript: Transcript) -> dict:
    """OpenAI's ``TranscriptionDiarized``: segments with their speakers ("A", "B"... unless named)."""
    document = {
        "task": "transcribe", "duration": _seconds(transcript.duration), "text": transcript.text,
        "segments": [{"type": "transcript.text.segment", "id": f"seg_{n:03d}", "start": _seconds(s.start),
                      "end": _seconds(s.end), "speaker": transcript.speaker_name(s.speaker) or "A", "text": s.text}
                     for n, s in enumerate(transcript.segments) if s.text],
        "usage": {"type": "duration", "seconds": _seconds(transcript.duration)},
    }
    if transcript.warnings:
        document["warnings"] = list(transcript.warnings)
    _speaker_extras(transcript, document)
    return document


def response(transcript: Transcript, fmt: ResponseFormat, granularities: tuple[Granularity, ...],
             language: Language | None) -> Response:
    if fmt == "json":
        return JSONResponse({"text": transcript.text,
                             "usage": {"type": "duration", "seconds": _seconds(transcript.duration)}})
    if fmt == "verbose_json":
        return JSONResponse(verbose(transcript, granularities, language))
    if fmt == "diarized_json":
        return JSONResponse(diarized(transcript))
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    return PlainTextResponse(export.render(transcript, fmt))
