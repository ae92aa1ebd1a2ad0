"""The odd-input corpus: every format a user may drop on the app, and every odd file, with the
outcome each must have (used by the decoding tests and the command line's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE, resample
from support.media import encode


@dataclass(frozen=True)
class Case:
    name: str
    error: str | None = None  # a phrase the error must contain; None: audio is expected
    warning: str | None = None  # a phrase a warning must contain
    duration: float | None = None  # seconds expected, when it differs from the source speech
    partial: bool = False  # some but not all of the speech is expected


def first_speech(speech_wavs) -> np.ndarray:
    samples, rate = soundfile.read(speech_wavs[0], dtype="float32")
    assert rate == SAMPLE_RATE
    return samples


def _wav_bytes_truncated(source: Path, target: Path, keep: float) -> None:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])


def build_corpus(folder: Path, speech: np.ndarray) -> dict[str, Case]:
    """Write the odd-input corpus into *folder*; returns the expected outcome per file name."""
    cases: dict[str, Case] = {}

    def add(name: str, **expect) -> Path:
        cases[name] = Case(name, **expect)
        return folder / name

    for rate in (8000, 16000, 22050, 44100, 48000):
        soundfile.write(add(f"pcm16_{rate}.wav"), resample(speech, 16000, rate), rate, subtype="PCM_16")
    stereo = np.stack([speech, speech * 0.5], axis=1)
    soundfile.write(add("stereo_44100.wav"), resample(stereo, 16000, 44100), 44100, subtype="PCM_16")
    soundfile.write(add("pcm24.wav"), speech, 16000, subtype="PCM_24")
    soundfile.write(add("float32.wav"), speech, 16000, subtype="FLOAT")
    soundfile.write(add("float_loud.wav"), speech * 3.0, 16000, subtype="FLOAT")
    soundfile.write(add("u8.wav"), speech, 16000, subtype="PCM_U8")
    soundfile.write(add("pcm16.flac"), speech, 16000, subtype="PCM_16")
    soundfile.write(add("vorbis.ogg"), stereo, 16000, format="OGG", subtype="VORBIS")
    soundfile.write(add("aiff.aiff"), speech, 16000)
    encode(speech, 48000, add("opus.opus"), "libopus", container="ogg")
    encode(speech, 44100, add("mp3.mp3"), "libmp3lame", channels=2)
    encode(speech, 44100, add("aac.m4a"), "aac", container="ipod", channels=2)
    encode(speech, 96000, add("surround51.flac"), "flac", container="flac", channels=6)
    encode(speech, 48000, add("video_h264_aac.mp4"), "aac", container="mp4", channels=2, video=True)
    encode(speech, 48000, add("video_opus.mkv"), "libopus", container="matroska", video=True)
    encode(speech, 48000, add("video_vp8_opus.webm"), "libopus", container="webm", video=True)

    short = speech[: SAMPLE_RATE // 100]
    soundfile.write(add("ten_ms.wav", duration=0.01), short, 16000)
    soundfile.write(add("silence.wav", duration=3.0), np.zeros(3 * 16000, np.float32), 16000)
    nan_speech = speech.copy()
    nan_speech[1000:2000] = np.nan
    soundfile.write(add("nan_samples.wav", warning="NaN"), nan_speech, 16000, subtype="FLOAT")
    _wav_bytes_truncated(folder / "pcm16_16000.wav", add("truncated.wav", warning="truncated",
                                                          duration=len(speech) / 16000 * 0.6), 0.6)
    _wav_bytes_truncated(folder / "mp3.mp3", add("truncated.mp3", partial=True), 0.5)

    add("empty.wav", error="empty").write_bytes(b"")
    soundfile.write(add("zero_frames.wav", error="no audio"), np.zeros(0, np.float32), 16000)
    _wav_bytes_truncated(folder / "pcm16_16000.wav", add("header_only.wav", error="decoded"),
                         20 / (folder / "pcm16_16000.wav").stat().st_size)
    add("notes_renamed.wav", error="not an audio").write_text("Shopping list: milk, eggs, bread.\n" * 20)
    add("random_bytes.mp3", error="").write_bytes(np.random.default_rng(1).bytes(20000))
    add("picture.m4a", error="").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    encode(speech, 48000, add("video_no_audio.mp4", error="no audio track"), "aac",
           container="mp4", video=True, audio=False)
    add("folder.wav", error="folder").mkdir()
    cases["missing.wav"] = Case("missing.wav", error="no such file")
    return cases
