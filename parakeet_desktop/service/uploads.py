"""Uploads: their form read, their audio decoded within the limits, and the folder where the
service holds that audio while it works on it.

A decoded upload (up to 4 hours of float32 at 16 kHz, about 920 MB) is kept in an unnamed file
here, mapped into memory, rather than on the heap: queued jobs cost disk and page cache, not the
process's memory. Unnamed files vanish with the process, however it ends; the folder is still
one of this process's own (``uploads/<pid>`` in the data folder) and is removed when the service
stops, and the folders of processes that no longer run are removed when a service starts, so
that nothing of a user's audio outlives a crash on a system where temporary files have names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
import weakref
from contextlib import aclosing
from pathlib import Path

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ..engine.audio import SAMPLE_RATE, AudioError, AudioTooLong, SpillFailed, load_audio
from ..engine.recognize import AudioInput
from ..processes import pid_alive
from .errors import ApiError
from .keywords import HINT_FIELDS, MAX_FIELD_BYTES, MAX_REQUEST_PHRASES

logger = logging.getLogger(__name__)

BYTES_PER_SECOND = SAMPLE_RATE * 4  # decoded audio: float32

FOLDER = "uploads"


class Form(FormData):
    """A request's form, and the hint fields (``prompt``) left out of it for their size."""

    left_out: frozenset[str] = frozenset()


class _FormParser(MultiPartParser):
    """Starlette's multipart parser, except that a hint over the size limit of a field is left
    out (read past, not kept) rather than failing the request: a prompt never fails a request."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.left_out: set[str] = set()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is None and part.field_name in HINT_FIELDS:
            if part.field_name in self.left_out:
                return
            if len(part.data) + end - start > self.max_part_size:
                self.left_out.add(part.field_name)
                part.data.clear()
                return
        super().on_part_data(data, start, end)


class UploadFolder:
    def __init__(self, data_folder: Path) -> None:
        self.root = data_folder / FOLDER
        self.path = self.root / str(os.getpid())

    def open(self) -> Path:
        """Remove what services that are gone left behind, and make this one's folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in self.root.iterdir():
            owner = int(entry.name) if entry.name.isdigit() else None
            if owner is not None and (owner == os.getpid() or pid_alive(owner)) and entry.is_dir():
                continue  # another running service's (the app's and a `serve` may run at once)
            _remove(entry)
        self.path.mkdir(mode=0o700, exist_ok=True)
        return self.path

    def close(self) -> None:
        _remove(self.path)


def _remove(entry: Path) -> None:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    except OSError as exc:
        logger.warning("Cannot remove %s: %s", entry, exc)


class UploadReader:
    """Reads a request's form and decodes its ``file`` field, a few at a time (*decoders*):
    from the upload's own spooled file (nothing named is written), refused as soon as its audio
    passes *max_seconds*, the samples kept in *spill_dir* (on the heap when None).

    All the decoded audio held at once (requests in flight, jobs queued: what a short upload of a
    long silence costs on disk) is kept within *max_held_bytes*: an upload whose audio would pass
    it is refused (507) as soon as decoding reaches the room left, and one that arrives when no
    room is left, before its form is read. Audio is held until the last reference to its samples
    goes (a finished request, a job done or cancelled)."""

    def __init__(self, max_seconds: float, decoders: int, spill_dir: Path | None,
                 max_held_bytes: int = 8 << 30) -> None:
        self.max_seconds = max_seconds
        self.spill_dir = spill_dir
        self.max_held_bytes = max_held_bytes
        self.held = 0  # bytes of decoded audio alive
        self._held_lock = threading.Lock()
        self._decoding = asyncio.Semaphore(max(1, decoders))

    def _room_seconds(self) -> float:
        return (self.max_held_bytes - self.held) / BYTES_PER_SECOND

    def _full(self, more: str = "") -> ApiError:
        return ApiError(507, f"The service holds {self.held / BYTES_PER_SECOND / 3600:.1f} hours of audio "
                             f"already, the most it keeps at once{more}; try again when queued jobs are done.",
                        code="insufficient_storage", retry_after=60)

    async def read(self, request: Request) -> tuple[Form, AudioInput]:
        if self._room_seconds() < 1:
            raise self._full()
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise ApiError(415, "Send the audio as multipart/form-data with a “file” field, as OpenAI's "
                                f"clients do (this request was {content_type or 'without a content type'}).",
                           code="unsupported_media_type")
        try:
            async with aclosing(request.stream()) as stream:
                # The openai package sends a keywords list as one field a phrase.
                parser = _FormParser(request.headers, stream, max_files=1, max_fields=MAX_REQUEST_PHRASES + 64,
                                     max_part_size=MAX_FIELD_BYTES)
                form = Form(await parser.parse())
                form.left_out = frozenset(parser.left_out)
        except MultiPartException as exc:
            raise ApiError(400, f"The form could not be read: {exc.message}") from exc
        except OSError as exc:  # the upload's spooled file: no room on the disk
            raise ApiError(507, f"The service cannot hold this upload: {exc.strerror or exc}.",
                           code="insufficient_storage") from exc
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            await form.close()
            raise ApiError(400, "The request has no “file” field with the audio.", param="file")
        name = Path(upload.filename or "audio").name or "audio"
        try:
            async with self._decoding:
                audio = await asyncio.to_thread(self._decode, upload.file, name)
        finally:
            await form.close()
        return form, audio

    def _decode(self, file, name: str) -> AudioInput:
        room = self._room_seconds()
        try:
            decoded = load_audio(file, name=name, max_seconds=min(self.max_seconds, room), spill_dir=self.spill_dir)
        except AudioTooLong as exc:
            if room < self.max_seconds and (exc.seconds is None or exc.seconds <= self.max_seconds):
                raise self._full(f" ({name} would not fit beside it)") from exc
            raise ApiError(400, f"{name}: {AudioTooLong(name, exc.seconds, self.max_seconds).reason}.",
                           code="audio_too_long", param="file") from exc
        except AudioError as exc:
            raise ApiError(400, f"{name}: {exc.reason}", code="invalid_audio", param="file") from exc
        except SpillFailed as exc:
            raise ApiError(507, f"The service cannot hold this audio: {exc}.", code="insufficient_storage") from exc
        size = decoded.samples.nbytes
        with self._held_lock:
            self.held += size
        weakref.finalize(decoded.samples, self._release, size)
        return AudioInput(name, decoded.samples, tuple(decoded.warnings))

    def _release(self, size: int) -> None:
        with self._held_lock:
            self.held -= size
