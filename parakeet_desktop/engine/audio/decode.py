"""Decode audio and video files to 16 kHz mono float32, the input every Parakeet model takes.

Files are read block by block: each block is mixed down to mono and resampled by a streaming
soxr resampler before the next is read, so an hour-long file never exists in memory at its own
rate and channel count, only as the 16 kHz mono result (about 230 MB an hour).

libsndfile (through soundfile) reads WAV, FLAC, OGG Vorbis/Opus and AIFF directly; everything
else (MP3 included), and anything libsndfile refuses, goes through FFmpeg's decoders (through
PyAV), which also take the audio track of MP4, MKV and WebM video.

A caller that takes audio from strangers (the local service) gives a length limit, and a folder
to hold the result: a file whose header announces more than the limit is refused before any of
it is decoded, decoding stops as soon as the limit is passed whatever the header said (a 917 KB
FLAC file of silence holds ten hours, 2.3 GB as float32), and the samples go to an unnamed file
in that folder, mapped into memory, rather than onto the heap.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_BLOCK_SECONDS = 10
# What libsndfile decodes well; other files go straight to FFmpeg (whose decoders also take
# libsndfile's formats, should a file be misnamed).
_LIBSNDFILE_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc",
                        ".au", ".snd", ".caf", ".w64", ".rf64"}
# Files worth offering in a file picker: libsndfile's, and the common ones FFmpeg decodes (any
# other file can still be dropped or chosen with "All files").
MEDIA_SUFFIXES = tuple(sorted(_LIBSNDFILE_SUFFIXES | {
    ".mp3", ".m4a", ".aac", ".wma", ".amr", ".ac3", ".mka", ".webm", ".mp4", ".m4v", ".mkv",
    ".mov", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".3gp"}))
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


# libsndfile's frame count when a header does not say (a FLAC file written to a pipe).
_UNKNOWN_FRAMES = 2**63 - 1


class AudioError(Exception):
    """A file that cannot be turned into audio; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{Path(path).name}: {reason}")
        self.path = Path(path)
        self.reason = reason


class AudioTooLong(AudioError):
    """More audio than the caller takes: *seconds* as the header announced it, or None when
    decoding passed *limit* (the header did not say, or said less)."""

    def __init__(self, path: str | Path, seconds: float | None, limit: float) -> None:
        length = f"{_hours(seconds)} long" if seconds is not None else f"longer than {_hours(limit)}"
        super().__init__(path, f"the audio is {length}; at most {_hours(limit)} are taken at once")
        self.seconds = seconds
        self.limit = limit


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds / 60:.1f} minutes"


@dataclass
class DecodedAudio:
    """Samples at ``SAMPLE_RATE``, mono, float32 in [-1, 1], with what the decoder noticed."""

    samples: np.ndarray
    source_rate: int
    source_channels: int
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


class GrowingBuffer:
    """A float32 array filled block by block, sized from an estimate and grown if it was short."""

    def __init__(self, estimated_samples: int) -> None:
        self._data = np.empty(max(estimated_samples, SAMPLE_RATE), dtype=np.float32)
        self._used = 0

    def append(self, block: np.ndarray) -> None:
        end = self._used + len(block)
        if end > len(self._data):
            grown = np.empty(max(end, int(len(self._data) * 1.5)), dtype=np.float32)
            grown[: self._used] = self._data[: self._used]
            self._data = grown
        self._data[self._used : end] = block
        self._used = end

    def __len__(self) -> int:
        return self._used

    def view(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Samples filled so far (a view, valid until the next append)."""
        end = self._used if end is None else min(end, self._used)
        return self._data[start:end]

    def result(self) -> np.ndarray:
        if self._used < 0.9 * len(self._data):
            return self._data[: self._used].copy()
        return self._data[: self._used]


class SpillFailed(Exception):
    """The folder that holds decoded samples has no room (a full disk): not the file's fault."""


class SpillBuffer:
    """Samples written block by block to an unnamed temporary file in *folder* and mapped into
    memory when complete: the kernel's page cache holds them, not the process's heap, and the
    file vanishes with its last handle (also when the process is killed)."""

    def __init__(self, folder: Path) -> None:
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed by close()
        self._used = 0

    def append(self, block: np.ndarray) -> None:
        try:
            self._file.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
        except OSError as exc:
            raise _no_room(exc) from exc
        self._used += len(block)

    def __len__(self) -> int:
        return self._used

    def result(self) -> np.ndarray:
        with self._file:  # the map keeps its own handle
            if self._used == 0:
                return np.zeros(0, dtype=np.float32)
            try:
                self._file.flush()
            except OSError as exc:
                raise _no_room(exc) from exc
            return np.memmap(self._file, dtype=np.float32, mode="r+", shape=(self._used,))

    def discard(self) -> None:
        self._file.close()


def _no_room(exc: OSError) -> SpillFailed:
    return SpillFailed(f"no room for the decoded audio ({exc.strerror or exc})")


class _Limited:
    """A buffer that refuses to grow past *limit* samples (AudioTooLong). As a context, it gives
    back a spilled file's space when decoding fails."""

    def __init__(self, buffer: GrowingBuffer | SpillBuffer, limit_seconds: float | None, path: Path) -> None:
        self.buffer = buffer
        self.limit_seconds = limit_seconds
        self.path = path

    def append(self, block: np.ndarray) -> None:
        if self.limit_seconds is not None and len(self.buffer) + len(block) > self.limit_seconds * SAMPLE_RATE:
            raise AudioTooLong(self.path, None, self.limit_seconds)
        self.buffer.append(block)

    def result(self) -> np.ndarray:
        return self.buffer.result()

    def __enter__(self) -> _Limited:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is not None and isinstance(self.buffer, SpillBuffer):
            self.buffer.discard()


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) float block to a mono float32 vector."""
    if block.ndim == 2:
        block = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
    return np.ascontiguousarray(block, dtype=np.float32)


class MonoResampler:
    """Mix-down and streaming resampling of consecutive blocks to ``SAMPLE_RATE``."""

    def __init__(self, source_rate: int) -> None:
        self._stream = (
            None if source_rate == SAMPLE_RATE
            else soxr.ResampleStream(source_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        )

    def feed(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        mono = _to_mono(block)
        if self._stream is None:
            return mono
        return self._stream.resample_chunk(mono, last=last)


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a whole mono float32 array."""
    if source_rate == target_rate:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), source_rate, target_rate, quality="HQ")


def _finish(path: Path, buffer: _Limited, rate: int, channels: int,
            warnings: list[str]) -> DecodedAudio:
    samples = buffer.result()
    if len(samples) == 0:
        raise AudioError(path, "the file contains no audio (zero length)")
    # Reductions rather than elementwise tests: no temporary the size of an hour of audio.
    if not np.isfinite(samples.sum(dtype=np.float64)):
        warnings.append("invalid samples (NaN or infinity) were replaced by silence")
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    peak = max(float(samples.max()), -float(samples.min()))
    if peak > 1.0:
        # Float files may exceed full scale; scaling keeps the waveform, clipping would not.
        samples /= peak
    return DecodedAudio(samples, rate, channels, warnings)


def _announced_frames(f: soundfile.SoundFile) -> int | None:
    """Frames the header announces, None when it does not say. libsndfile trims a short WAV's
    count to what is there and notes the header's figure in its log ("data : 145238 (should be
    87125)")."""
    if f.frames >= _UNKNOWN_FRAMES:
        return None
    short = _SHORT_DATA.search(f.extra_info)
    if short is None:
        return f.frames
    return int(f.frames * int(short.group(1)) / max(int(short.group(2)), 1))


class _UseFFmpeg(Exception):
    """libsndfile can open the file, but FFmpeg decodes it better."""


@dataclass(frozen=True)
class _Target:
    """Where decoded samples go, and how many may: the file's name for messages, the length
    limit in seconds (None: any), the folder to spill them to (None: the heap)."""

    path: Path
    max_seconds: float | None
    spill_dir: Path | None

    def buffer(self, announced_seconds: float | None) -> _Limited:
        if announced_seconds is not None and self.max_seconds is not None and announced_seconds > self.max_seconds:
            raise AudioTooLong(self.path, announced_seconds, self.max_seconds)
        if self.spill_dir is not None:
            return _Limited(SpillBuffer(self.spill_dir), self.max_seconds, self.path)
        estimate = announced_seconds or 0.0
        if self.max_seconds is not None:
            estimate = min(estimate, self.max_seconds)
        return _Limited(GrowingBuffer(math.ceil(estimate * SAMPLE_RATE) + SAMPLE_RATE), self.max_seconds, self.path)


def _decode_soundfile(source, target: _Target) -> DecodedAudio:
    path = target.path
    with soundfile.SoundFile(source) as f:
        if f.format == "MP3":
            # libsndfile pads a cut-off MP3 with silence up to the length its header announces.
            raise _UseFFmpeg()
        rate, channels, expected = f.samplerate, f.channels, _announced_frames(f)
        if rate <= 0 or channels <= 0:
            raise AudioError(path, "the file header is damaged (no sample rate or channels)")
        resampler = MonoResampler(rate)
        read = 0
        warnings: list[str] = []
        with target.buffer(expected / rate if expected is not None else None) as buffer:
            try:
                for block in f.blocks(blocksize=rate * _BLOCK_SECONDS, dtype="float32", always_2d=True):
                    read += len(block)
                    buffer.append(resampler.feed(block))
            except soundfile.LibsndfileError as exc:
                if read == 0:
                    raise
                warnings.append(f"the file is damaged after {read / rate:.1f} s; the rest was skipped ({exc})")
            buffer.append(resampler.feed(np.zeros((0, channels), np.float32), last=True))
        if expected and read < expected and not warnings:
            warnings.append(
                f"the file is truncated: {read / rate:.1f} s of the {expected / rate:.1f} s "
                "its header announces could be read"
            )
    return _finish(path, buffer, rate, channels, warnings)


def _decode_av(source, target: _Target) -> DecodedAudio:
    import av

    path = target.path
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise AudioError(path, "not an audio or video file that can be decoded") from exc
    except av.error.FFmpegError as exc:
        raise AudioError(path, f"cannot be opened ({exc.strerror or exc})") from exc
    with container:
        if not container.streams.audio:
            kind = "video file has" if container.streams.video else "file has"
            raise AudioError(path, f"the {kind} no audio track")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        channels = stream.codec_context.channels or 1
        if not rate:
            raise AudioError(path, "the audio track has no sample rate")
        duration = (
            float(stream.duration * stream.time_base) if stream.duration and stream.time_base
            else (container.duration or 0) / 1_000_000
        )
        # Planar float at the source rate and layout; soxr does the rate change.
        converter = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        resampler = MonoResampler(rate)
        warnings: list[str] = []
        decoded = 0.0
        with target.buffer(duration or None) as buffer:
            try:
                for frame in container.decode(stream):
                    for converted in converter.resample(frame):
                        block = converted.to_ndarray().T
                        decoded += len(block) / rate
                        buffer.append(resampler.feed(block))
            except av.error.FFmpegError as exc:
                if decoded == 0:
                    raise AudioError(path, f"the audio track cannot be decoded ({exc.strerror or exc})") from exc
                warnings.append(f"the file is damaged after {decoded:.1f} s; the rest was skipped")
            buffer.append(resampler.feed(np.zeros((0, 1), np.float32), last=True))
        if duration > 0 and decoded < duration - 1.0 and not warnings:
            warnings.append(
                f"the file is truncated: {decoded:.1f} s of the {duration:.1f} s "
                "its header announces could be read"
            )
    return _finish(path, buffer, rate, channels, warnings)


def load_audio(source: str | Path | BinaryIO, *, name: str | None = None, max_seconds: float | None = None,
               spill_dir: Path | None = None) -> DecodedAudio:
    """Decode *source* (a path, or a seekable binary file such as an upload, called *name*) to
    16 kHz mono float32.

    *max_seconds*: refuse longer audio, before decoding when the header says so and as soon as
    decoding passes the limit otherwise. *spill_dir*: keep the samples in an unnamed file there,
    mapped into memory, rather than on the heap.

    Raises:
        AudioTooLong: more than *max_seconds* of audio.
        SpillFailed: *spill_dir* has no room for the samples.
        AudioError: the file is missing, unreadable, empty, not audio, or has no audio track.
    """
    if isinstance(source, (str, Path)):
        source = path = Path(source)
        _check_path(path)
    else:
        path = Path(name or "audio")
        if source.seek(0, 2) == 0:
            raise AudioError(path, "the file is empty (0 bytes)")
        source.seek(0)
    target = _Target(path, max_seconds, spill_dir)
    try:
        if path.suffix.lower() in _LIBSNDFILE_SUFFIXES:
            try:
                return _decode_soundfile(source, target)
            except (_UseFFmpeg, soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
                logger.debug("libsndfile cannot read %s (%s); trying FFmpeg", path, exc)
                if not isinstance(source, Path):
                    source.seek(0)
        return _decode_av(source, target)
    except (AudioError, SpillFailed):
        raise
    except MemoryError as exc:
        raise AudioError(path, "not enough memory to decode the file") from exc
    except Exception as exc:  # FFmpeg surfaces many error types; each is one bad file.
        raise AudioError(path, f"cannot be decoded ({exc})") from exc


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    try:
        if path.stat().st_size == 0:
            raise AudioError(path, "the file is empty (0 bytes)")
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise AudioError(path, "permission denied") from exc
