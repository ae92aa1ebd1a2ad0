"""Decoding: every format a user may drop on the app, and every odd file, gives audio or one clear error."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from media import encode
from parakeet_desktop.engine.audio import SAMPLE_RATE, AudioError, load_audio, resample


@dataclass(frozen=True)
class Case:
    name: str
    error: str | None = None  # a phrase the error must contain; None: audio is expected
    warning: str | None = None  # a phrase a warning must contain
    duration: float | None = None  # seconds expected, when it differs from the source speech
    partial: bool = False  # some but not all of the speech is expected


def _speech(speech_wavs) -> np.ndarray:
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


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, speech_wavs):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build_corpus(folder, _speech(speech_wavs)), len(_speech(speech_wavs)) / SAMPLE_RATE


def test_corpus_has_at_least_twenty_odd_inputs(corpus):
    _, cases, _ = corpus
    assert len(cases) >= 20
    assert sum(case.error is not None for case in cases.values()) >= 8


def test_each_input_gives_audio_or_one_clear_error(corpus):
    folder, cases, speech_seconds = corpus
    for name, case in cases.items():
        path = folder / name
        if case.error is not None:
            with pytest.raises(AudioError) as caught:
                load_audio(path)
            message = str(caught.value)
            assert message.startswith(f"{name}: "), message
            assert case.error in message, message
            continue
        decoded = load_audio(path)
        audio = decoded.samples
        assert audio.dtype == np.float32 and audio.ndim == 1, name
        assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0, name
        expected = case.duration if case.duration is not None else speech_seconds
        if case.partial:
            assert 0.2 * expected < decoded.duration < 0.9 * expected, (name, decoded.duration)
        else:
            # Lossy codecs pad the start (encoder delay); half-files cut mid-frame.
            assert abs(decoded.duration - expected) < 0.12, (name, decoded.duration, expected)
        if case.warning:
            assert any(case.warning in w for w in decoded.warnings), (name, decoded.warnings)


def test_resampling_keeps_pitch_and_length(tmp_path):
    for rate in (8000, 22050, 44100, 48000):
        t = np.arange(rate * 2) / rate
        soundfile.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), rate, subtype="PCM_16")
        audio = load_audio(tmp_path / "tone.wav").samples
        assert abs(len(audio) - 2 * SAMPLE_RATE) <= 2
        spectrum = np.abs(np.fft.rfft(audio))
        peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio)
        assert abs(peak_hz - 440) < 1.0, (rate, peak_hz)


def test_stereo_is_mixed_to_mono(tmp_path):
    t = np.arange(16000) / 16000
    tone = 0.8 * np.sin(2 * np.pi * 300 * t)
    soundfile.write(tmp_path / "left.wav", np.stack([tone, np.zeros_like(tone)], axis=1), 16000,
                    subtype="FLOAT")
    audio = load_audio(tmp_path / "left.wav").samples
    assert np.allclose(audio, tone / 2, atol=1e-6)


def _decode_with_peak(path):
    """Decoded samples and the peak of memory traced while decoding."""
    tracemalloc.start()
    try:
        audio = load_audio(path).samples
        return audio, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_long_file_is_decoded_without_extra_full_copies(tmp_path):
    """Twenty minutes of 44.1 kHz stereo: at most the 16 kHz mono result plus small blocks in memory."""
    rate, minutes = 44100, 20
    path = tmp_path / "long.flac"
    block = (0.1 * np.random.default_rng(0).standard_normal((rate * 60, 2))).astype(np.float32)
    with soundfile.SoundFile(path, "w", rate, 2, subtype="PCM_16") as f:
        for _ in range(minutes):
            f.write(block)
    del block
    audio, peak = _decode_with_peak(path)
    result_bytes = audio.nbytes
    assert abs(len(audio) - minutes * 60 * SAMPLE_RATE) < SAMPLE_RATE
    # The source at its own rate and channels alone would be 5.5 times the result.
    assert peak < 1.3 * result_bytes, (peak / 2**20, result_bytes / 2**20)


def test_long_compressed_file_is_decoded_without_extra_full_copies(tmp_path):
    """Five minutes of 44.1 kHz stereo AAC, through FFmpeg: the same bound as for libsndfile."""
    noise = (0.1 * np.random.default_rng(1).standard_normal(SAMPLE_RATE * 300)).astype(np.float32)
    path = encode(noise, 44100, tmp_path / "long.m4a", "aac", container="ipod", channels=2)
    del noise
    audio, peak = _decode_with_peak(path)
    assert abs(len(audio) - 300 * SAMPLE_RATE) < SAMPLE_RATE
    assert peak < 1.3 * audio.nbytes, (peak / 2**20, audio.nbytes / 2**20)
