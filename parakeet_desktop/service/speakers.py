"""A request's speakers (``response_format=diarized_json``, ``speakers``, OpenAI's
``known_speaker_names[]`` and ``known_speaker_references[]``) as the engine's SpeakerRequest,
reference clips decoded from their data URLs. Made where the request is read (so a bad clip is a
400 before any work) and again where a job runs (a cluster's job may run on another replica)."""

from __future__ import annotations

import base64
import binascii
import io
from urllib.parse import unquote_to_bytes

from ..engine.audio import AudioError, load_audio
from ..engine.speakers import SpeakerRequest
from .errors import ApiError
from .options import TranscriptionOptions

# A reference clip is a few seconds of one voice: its data URL may hold at most this much.
MAX_REFERENCE_BYTES = 8 * 2**20
MAX_REFERENCE_SECONDS = 60.0


def speaker_request(options: TranscriptionOptions) -> SpeakerRequest | None:
    """None when the request asks for no speakers. Raises ApiError 400 for a reference clip that
    is not audio, too short or silent."""
    if not options.wants_speakers:
        return None
    names = options.known_speaker_names
    references = tuple((name, _clip(index, name, url))
                       for index, (name, url) in enumerate(zip(names, options.known_speaker_references, strict=False)))
    try:
        threshold = {} if options.speaker_threshold is None else {"threshold": options.speaker_threshold}
        return SpeakerRequest(options.speaker_count, () if references else names, references, letters=True,
                              **threshold)
    except ValueError as exc:
        param = "known_speaker_references" if references else "known_speaker_names"
        raise ApiError(400, str(exc), param=param) from None


def _clip(index: int, name: str, url: str):
    where = f"known_speaker_references[{index}] ({name})"
    head, comma, data = url.partition(",")
    if not head.lower().startswith("data:") or not comma:
        raise ApiError(400, f"{where}: not a data URL (data:audio/wav;base64,…).", param="known_speaker_references")
    if len(data) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise ApiError(400, f"{where}: the clip is larger than {MAX_REFERENCE_BYTES // 2**20} MB; a few seconds "
                            "of the voice are enough.", param="known_speaker_references")
    try:
        raw = base64.b64decode(data, validate=True) if head.lower().endswith(";base64") else unquote_to_bytes(data)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{where}: its base64 data is damaged.", param="known_speaker_references") from None
    media = head[5:].split(";")[0].lower()
    suffix = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/mpeg": ".mp3",
              "audio/mp3": ".mp3", "audio/flac": ".flac", "audio/ogg": ".ogg", "audio/webm": ".webm",
              "audio/mp4": ".m4a", "audio/m4a": ".m4a"}.get(media, "")
    try:
        decoded = load_audio(io.BytesIO(raw), name=f"reference-{index}{suffix}", max_seconds=MAX_REFERENCE_SECONDS)
    except AudioError as exc:
        raise ApiError(400, f"{where}: {exc.reason}.", param="known_speaker_references") from None
    return decoded.samples
