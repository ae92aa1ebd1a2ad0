"""Whole-file transcription: long audio split at pauses, batching, progress and cancellation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from parakeet_desktop.engine.audio.decode import SAMPLE_RATE, load_audio
from parakeet_desktop.engine.audio.vad import speech_frames
from parakeet_desktop.engine.model.speech import RecognitionCancelled
from parakeet_desktop.engine.recognize.files import FileTranscriber
from parakeet_desktop.engine.recognize.pieces import plan_pieces
from support.speech import silence


@pytest.fixture(scope="module")
def talk(speech_wavs):
    """About 30 s of speech: each sentence followed by a pause of 0.6 s, twice over."""
    parts = []
    for path in speech_wavs * 2:
        parts += [load_audio(path).samples, silence(0.6)]
    return np.concatenate(parts)


def _pauses(samples: np.ndarray) -> list[tuple[int, int]]:
    """Sample ranges webrtcvad calls non-speech for at least 0.3 s."""
    flags = speech_frames(samples, 30, 2)
    frame = SAMPLE_RATE * 30 // 1000
    ranges, start = [], None
    for i, flag in enumerate(np.append(flags, True)):
        if not flag and start is None:
            start = i
        elif flag and start is not None:
            if i - start >= 10:
                ranges.append((start * frame, i * frame))
            start = None
    return ranges


def test_webrtcvad_hears_speech_and_not_silence(speech_wavs):
    speech = load_audio(speech_wavs[0]).samples
    flags = speech_frames(np.concatenate([silence(1.0), speech, silence(1.0)]), 30, 2)
    frames_per_second = 1000 // 30
    assert not flags[: frames_per_second - 2].any()
    assert not flags[-frames_per_second + 2 :].any()
    assert flags.mean() > 0.3


def test_long_audio_is_cut_at_pauses_into_bounded_pieces(talk):
    pieces = plan_pieces(talk, max_piece_seconds=8.0)
    assert len(pieces) >= 4
    assert pieces[0].start == 0 and pieces[-1].end == len(talk)
    assert all(a.end == b.start for a, b in zip(pieces, pieces[1:]))
    assert all(p.end - p.start <= 8 * SAMPLE_RATE for p in pieces)
    pauses = _pauses(talk)
    for piece in pieces[:-1]:
        assert any(lo <= piece.end <= hi for lo, hi in pauses), piece.end / SAMPLE_RATE


def test_audio_without_pauses_is_still_cut_within_the_limit():
    rng = np.random.default_rng(3)
    t = np.arange(SAMPLE_RATE * 25) / SAMPLE_RATE
    hum = (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
           + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    pieces = plan_pieces(hum, max_piece_seconds=6.0)
    assert all(p.end - p.start <= 6 * SAMPLE_RATE for p in pieces)
    assert sum(p.end - p.start for p in pieces) == len(hum)


def test_split_transcript_keeps_times_in_file_order(model, talk):
    transcriber = FileTranscriber(model, max_piece_seconds=8.0, batch_seconds=16.0)
    transcript = transcriber.transcribe_array(talk, "talk")
    words = transcript.words
    assert words
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:]))
    assert words[-1].end <= transcript.duration
    assert words[-1].start > transcript.duration / 2, "the last pieces were placed at their offsets"


def test_short_audio_is_one_piece_with_nemo_text(model, speech_wavs):
    audio = load_audio(speech_wavs[0]).samples
    transcript = FileTranscriber(model).transcribe_array(audio)
    assert transcript.text == model.recognize([audio])[0].text


def test_progress_rises_to_the_end_and_each_file_is_reported(model, speech_wavs, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio")
    paths = [speech_wavs[0], bad, speech_wavs[1], speech_wavs[2]]
    seen = []
    results = list(FileTranscriber(model).transcribe_files(paths, progress=seen.append))
    assert sorted(str(r.path) for r in results) == sorted(str(p) for p in paths)
    by_path = {r.path: r for r in results}
    assert by_path[bad].error and by_path[bad].transcript is None
    assert all(by_path[p].transcript.text for p in paths if p != bad)
    fractions = [p.fraction for p in seen]
    assert seen[-1].fraction == pytest.approx(1.0)
    assert [p.done_seconds for p in seen] == sorted(p.done_seconds for p in seen)
    assert {p.file_index for p in seen} >= {0, 1, 2, 3}
    assert max(fractions) <= 1.0 + 1e-9


def test_cancel_between_batches_stops_the_job(model, speech_wavs):
    cancel = threading.Event()
    batches = []

    def progress(p):
        if p.done_seconds > 0:
            batches.append(p.done_seconds)
            cancel.set()

    transcriber = FileTranscriber(model, batch_seconds=1.0, max_piece_seconds=1.0)
    with pytest.raises(RecognitionCancelled):
        list(transcriber.transcribe_files(speech_wavs, progress=progress, cancel=cancel))
    assert len(batches) == 1, "no batch ran after the cancel"


def test_cancel_inside_a_batch_stops_before_the_next_encoder_layer(model, talk):
    cancel = threading.Event()
    layers_after_cancel = []

    def watch(_module, _inputs):
        if cancel.is_set():
            layers_after_cancel.append(1)

    def cancel_in_first_layer(_module, _inputs):
        cancel.set()

    first_layer = model.nemo.encoder.layers[0]
    hooks = [first_layer.register_forward_pre_hook(cancel_in_first_layer)]
    hooks += [layer.register_forward_hook(watch) for layer in model.nemo.encoder.layers]
    try:
        with pytest.raises(RecognitionCancelled):
            FileTranscriber(model).transcribe_array(talk, cancel=cancel)
    finally:
        for hook in hooks:
            hook.remove()
    assert layers_after_cancel == [], "no encoder layer ran after the cancel"


def test_files_share_batches(model, speech_wavs):
    calls = {"encode": [], "decode": []}
    encode, decode = model.encode_batch, model.decode_encoded

    def encoding(pieces, *rest):
        calls["encode"].append(len(pieces))
        return encode(pieces, *rest)

    def decoding(encoded, *rest):
        calls["decode"].append(encoded.shape[0])
        return decode(encoded, *rest)

    model.encode_batch, model.decode_encoded = encoding, decoding
    try:
        results = list(FileTranscriber(model, batch_seconds=60).transcribe_files(speech_wavs))
    finally:
        del model.encode_batch, model.decode_encoded
    assert len(results) == len(speech_wavs)
    assert calls["encode"] == [len(speech_wavs)], "four short files go through the encoder as one batch"
    assert calls["decode"] == [len(speech_wavs)], "and through the decoder as one"


def test_on_the_cpu_pieces_of_several_batches_are_decoded_together(model, speech_wavs, monkeypatch, tmp_path):
    """The encoder takes its batches within the budget; the decoder takes their pieces at once
    (a CPU decoding step costs the same for one row or many), with the same words and times as
    when each batch is decoded on its own."""
    from parakeet_desktop.engine.recognize import files

    decode, limit = model.decode_encoded, files._DECODE_ROWS
    rows = []

    def decoding(encoded, *rest):
        rows.append(encoded.shape[0])
        return decode(encoded, *rest)

    import soundfile

    talk = tmp_path / "talk.wav"
    soundfile.write(talk, np.concatenate([soundfile.read(w, dtype="float32")[0] for w in speech_wavs]), 16000)

    def transcripts():
        transcriber = FileTranscriber(model, batch_seconds=1.0, max_piece_seconds=1.0)
        return [r.transcript for r in transcriber.transcribe_files([talk])]

    model.decode_encoded = decoding
    try:
        together = transcripts()
        decoded_together = list(rows)
        rows.clear()
        monkeypatch.setattr(files, "_DECODE_ROWS", 1)  # each batch decoded as soon as it is encoded
        apart = transcripts()
    finally:
        del model.decode_encoded
    pieces = sum(decoded_together)
    assert len(decoded_together) < pieces and max(decoded_together) <= limit, decoded_together
    assert sum(rows) == pieces and len(rows) > len(decoded_together)  # batch by batch
    assert [(t.text, t.words) for t in together] == [(t.text, t.words) for t in apart]
    assert all(t.text for t in together)


def test_long_speech_without_words_is_found_where_it_is():
    """Real speech: a transcript with words all through has no unheard stretch; one whose words
    stop halfway has one, from about where they stop; silence has none."""
    from parakeet_desktop.engine.recognize.pieces import speech_without_words, unheard_speech_warning
    from parakeet_desktop.engine.recognize.transcript import Word
    from tools.speech import passage

    audio = passage(60)
    everywhere = [Word("w", t, t + 0.3) for t in np.arange(0, 60, 1.0)]
    assert speech_without_words(audio, everywhere) == []
    stretches = speech_without_words(audio, everywhere[:25])
    assert len(stretches) == 1 and 24 <= stretches[0][0] <= 27 and stretches[0][1] >= 58
    warning = unheard_speech_warning(stretches)
    assert "of what sounds like speech gave no text (0:2" in warning and "–0:59)" in warning
    assert speech_without_words(np.zeros(16000 * 30, np.float32), []) == []
