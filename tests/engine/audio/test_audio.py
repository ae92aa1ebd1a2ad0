"""Decoding: every format a user may drop on the app, and every odd file, gives audio or one clear error."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE, AudioError, load_audio
from support.corpus import build_corpus, first_speech
from support.media import encode


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, speech_wavs):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build_corpus(folder, first_speech(speech_wavs)), len(first_speech(speech_wavs)) / SAMPLE_RATE


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
