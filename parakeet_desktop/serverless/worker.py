"""A RunPod serverless worker: ``python -m parakeet_desktop.serverless`` (``pip install
'parakeet-desktop[runpod]'``).

The model loads once when the worker starts (``PARAKEET_MODEL``, default the standard model;
``PARAKEET_DEVICE``, default auto), then the ``runpod`` SDK hands it jobs:

    {"input": {"audio_base64": "…" | "audio_url": "https://…", "format": "mp3",
               "timestamps": true, "chunk_long_audio": true, "chunk_duration": 30,
               "use_local_attention": true}}

and it answers ``{"text", "language", "language_confidence", "duration", "segments": [{"start",
"end", "text"}], "words": [{"word", "start", "end"}], "model", "device", "processing_time_ms",
"long_audio", "warnings"}`` (no segments and words with ``timestamps`` false), or ``{"error"}``
with a sentence saying what was wrong. ``format`` names the audio's format (wav, mp3, flac, ogg,
m4a, webm, …) when the bytes alone may not tell it.

Long audio is recognised as the app does everywhere: cut at pauses into pieces of at most
``chunk_duration`` seconds (the device's own limit when not given or larger: 60 s on a GPU, 30 s
on a CPU), each with full attention, batched together. That is this engine's answer to what
NeMo's local attention (``use_local_attention``) is for, memory that stays bounded however long
the audio: either flag asks for it, and it is what happens; with both false, audio longer than
one piece is still cut (a single pass over an hour would not fit in memory), and the answer's
``warnings`` say so.

The SDK's local test modes run it without RunPod: ``--test_input '{"input": …}'`` runs one job and
exits; ``--rp_serve_api --rp_api_port 8000`` serves RunPod's ``/runsync`` and ``/run`` locally.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import time
from typing import BinaryIO

from ..engine.audio import AudioError, load_audio
from ..engine.model import DEFAULT_MODEL_ID, ParakeetModel
from ..engine.recognize import FileTranscriber
from .fetch import FetchRefused, fetch_audio

logger = logging.getLogger(__name__)

MODEL_ENV, DEVICE_ENV = "PARAKEET_MODEL", "PARAKEET_DEVICE"
MAX_BYTES_ENV, MAX_SECONDS_ENV = "PARAKEET_MAX_AUDIO_BYTES", "PARAKEET_MAX_AUDIO_SECONDS"
FORMATS = ("wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "webm", "mkv", "mov", "aiff")
MIN_CHUNK_SECONDS = 5.0
INPUT_FIELDS = {"audio_base64", "audio_url", "format", "timestamps", "chunk_long_audio", "chunk_duration",
                "use_local_attention"}


class JobError(Exception):
    """What was wrong with a job, in a sentence for its caller."""


class Worker:
    """The loaded model and the limits; :meth:`handle` is the SDK's handler."""

    def __init__(self, model: ParakeetModel) -> None:
        self.model = model
        self.max_bytes = int(os.environ.get(MAX_BYTES_ENV, str(512 << 20)))
        self.max_seconds = float(os.environ.get(MAX_SECONDS_ENV, str(4 * 3600)))

    def handle(self, job: dict) -> dict:
        try:
            return self._run(job.get("input"))
        except (JobError, FetchRefused) as exc:
            return {"error": str(exc)}
        except Exception as exc:  # a job must end with an answer, never with a worker's traceback
            logger.exception("A job failed")
            return {"error": f"The audio could not be recognised: {exc}"}

    def _run(self, given) -> dict:
        if not isinstance(given, dict):
            raise JobError("The job's input must be an object such as {\"audio_url\": \"https://…\"}.")
        unknown = sorted(set(given) - INPUT_FIELDS)
        if unknown:
            raise JobError(f"Unknown input fields: {', '.join(unknown)}; "
                           f"the fields are {', '.join(sorted(INPUT_FIELDS))}.")
        fmt = _choice(given, "format", None)
        timestamps = _flag(given, "timestamps", True)
        chunked = _flag(given, "chunk_long_audio", True) or _flag(given, "use_local_attention", True)
        piece, warnings = self._piece_seconds(given.get("chunk_duration"), chunked)
        with self._audio(given) as audio:
            started = time.perf_counter()
            try:
                decoded = load_audio(audio, name=f"audio.{fmt or 'bin'}", max_seconds=self.max_seconds)
            except AudioError as exc:
                raise JobError(f"The audio could not be read: {exc.reason}") from exc
        transcript = FileTranscriber(self.model, max_piece_seconds=piece).transcribe_array(decoded.samples)
        if not chunked and transcript.duration > piece:
            warnings.append(f"The audio is longer than one piece ({piece:.0f} s on this device); it was cut at "
                            "pauses all the same.")
        language = transcript.language
        answer: dict[str, object] = {"text": transcript.text, "language": language.code if language else None,
                  "language_confidence": round(language.confidence, 3) if language else None,
                  "duration": round(transcript.duration, 3), "model": self.model.name, "device": self.model.device,
                  "processing_time_ms": round((time.perf_counter() - started) * 1000, 1),
                  "long_audio": f"cut at pauses into pieces of at most {piece:g} s",
                  "warnings": [*decoded.warnings, *transcript.warnings, *warnings]}
        if timestamps:
            answer["segments"] = [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]
            answer["words"] = [{"word": w.text, "start": w.start, "end": w.end} for w in transcript.words]
        return answer

    def _piece_seconds(self, given, chunked: bool) -> tuple[float, list[str]]:
        limit = self.model.max_piece_seconds
        if given is None or not chunked:
            return limit, []
        if isinstance(given, bool) or not isinstance(given, (int, float)) or not given >= MIN_CHUNK_SECONDS:
            raise JobError(f"chunk_duration must be a number of seconds, at least {MIN_CHUNK_SECONDS:g}.")
        if given > limit:
            return limit, [f"chunk_duration {given:g} s is longer than this device takes at once; pieces are at "
                           f"most {limit:g} s."]
        return float(given), []

    def _audio(self, given: dict) -> BinaryIO:
        """The job's audio as a file (the download's spool, or the decoded base64)."""
        encoded, url = given.get("audio_base64"), given.get("audio_url")
        if (encoded is None) == (url is None):
            raise JobError("Give the audio as one of audio_base64 or audio_url.")
        if url is not None:
            if not isinstance(url, str):
                raise JobError("audio_url must be a string.")
            return fetch_audio(url, self.max_bytes)
        if not isinstance(encoded, str):
            raise JobError("audio_base64 must be a string.")
        if len(encoded) > self.max_bytes * 4 // 3 + 4:
            raise JobError(f"audio_base64 holds more than {self.max_bytes} bytes, the most taken.")
        try:
            return io.BytesIO(base64.b64decode(encoded.split(",", 1)[-1] if encoded.startswith("data:") else encoded,
                                               validate=True))
        except (binascii.Error, ValueError) as exc:
            raise JobError(f"audio_base64 is not base64 ({exc}).") from exc


def _flag(given: dict, name: str, default: bool) -> bool:
    value = given.get(name, default)
    if not isinstance(value, bool):
        raise JobError(f"{name} must be true or false.")
    return value


def _choice(given: dict, name: str, default: str | None) -> str | None:
    value = given.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str) or value.lower().lstrip(".") not in FORMATS:
        raise JobError(f"format must name the audio's format: one of {', '.join(FORMATS)}.")
    return value.lower().lstrip(".")


def main() -> None:
    """Load the model, then hand the SDK the handler (which reads its own flags from argv)."""
    import runpod

    from ..engine.model import ModelError, load_model

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        model = load_model(os.environ.get(MODEL_ENV, DEFAULT_MODEL_ID), os.environ.get(DEVICE_ENV, "auto"))
    except ModelError as exc:
        raise SystemExit(f"error: {exc}") from None
    logger.info("Ready: %s on %s", model.name, model.device)
    runpod.serverless.start({"handler": Worker(model).handle})
