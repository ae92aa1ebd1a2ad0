"""The encoder's leaner forwards on the CPU (engine/model/lean_encoder.py) compute what NeMo's modules
compute: the shifted position scores exactly, the encoder's outputs for padded batches within
float rounding, and with them the committed speech models give the same text and word times
through files and both streaming routes (the cache-aware one runs the attention with its cache
and the causal subsampling), the attention run head by head and with all heads at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from parakeet_desktop.engine.recognize.files import FileTranscriber
from support.models import SPEECH_MODEL, STREAMING_MODEL
from support.speech import heard_every_way, held_out_utterances, silence, timed_words

lean = pytest.importorskip("parakeet_desktop.engine.model.lean_encoder")
from nemo.collections.asr.parts.submodules.multi_head_attention import RelPositionMultiHeadAttention  # noqa: E402
from nemo.collections.asr.parts.submodules.subsampling import MaskedConvSequential  # noqa: E402


@pytest.mark.parametrize("queries, keys, positions", [
    (5, 5, 9),     # a whole piece: 2T - 1 relative positions
    (4, 7, 13),    # a chunk with a cache: more keys than queries
    (3, 3, 8),     # more positions than the shift needs
    (5, 5, 7),     # fewer: NeMo's copy
])
def test_the_shifted_view_is_nemos_shift(queries, keys, positions):
    scores = torch.randn(2, 3, queries, positions)
    expected = RelPositionMultiHeadAttention.rel_shift(None, scores.clone())[:, :, :, :keys]
    assert torch.equal(lean._shifted(scores, keys, lambda x: RelPositionMultiHeadAttention.rel_shift(None, x)),
                       expected)


def _loaded(path, monkeypatch, leaner: bool):
    from parakeet_desktop.engine.model.loader import load_model

    with monkeypatch.context() as patch:
        if not leaner:
            patch.setattr(lean, "lean_encoder", lambda nemo_model: 0)
        model = load_model(str(path), "cpu", warm_up=False)
    encoder = model.nemo.encoder
    assert isinstance(encoder.pre_encode.conv, lean.TailMaskedConvs) == leaner
    assert all(isinstance(layer.self_attn, lean.LeanRelPositionAttention) == leaner for layer in encoder.layers)
    assert isinstance(encoder.pre_encode.conv, MaskedConvSequential)  # NeMo's module, its forward changed
    return model


@pytest.fixture(params=["head by head", "all heads at once"])
def attention_path(request, monkeypatch):
    """Either way the attention runs: each from 0 keys on, whatever the audio."""
    monkeypatch.setattr(lean, "HEAD_BY_HEAD_FROM", 0 if request.param == "head by head" else 10**9)


def test_a_padded_batch_is_encoded_as_nemo_encodes_it(monkeypatch, attention_path):
    rng = np.random.default_rng(5)
    _, speech = held_out_utterances(1)[0]
    pieces = [speech, speech[: len(speech) // 3], rng.normal(0, 0.1, 1200).astype(np.float32)]
    kept = [piece.copy() for piece in pieces]
    outputs = {}
    for leaner in (False, True):
        model = _loaded(SPEECH_MODEL, monkeypatch, leaner)
        encoded, lengths = model.encode_batch(pieces)
        outputs[leaner] = encoded, lengths
    (plain, plain_lengths), (mine, mine_lengths) = outputs[False], outputs[True]
    assert torch.equal(mine_lengths, plain_lengths) and mine.shape == plain.shape
    for row, length in enumerate(plain_lengths.tolist()):  # the frames each piece has
        assert torch.allclose(mine[row, :, :length], plain[row, :, :length], atol=1e-4, rtol=1e-4)
    assert all(np.array_equal(piece, copy) for piece, copy in zip(pieces, kept))  # the caller's audio unwritten


def test_the_speech_models_hear_the_same_with_the_leaner_encoder(monkeypatch, attention_path):
    audio = np.concatenate([np.concatenate([speech, silence(0.7)]) for _, speech in held_out_utterances(8)])
    results = {}
    for leaner in (False, True):
        results[leaner] = heard_every_way(_loaded(SPEECH_MODEL, monkeypatch, leaner),
                                          _loaded(STREAMING_MODEL, monkeypatch, leaner), audio)
    assert results[True] == results[False]
    assert all(len(text.split()) > 15 for text, _ in results[True])  # real text through every route


def test_a_model_moved_off_the_gpu_gets_the_cpus_modules_and_hears_the_same(monkeypatch):
    from parakeet_desktop.engine.model import packed
    from parakeet_desktop.engine.model.loader import load_model

    audio = np.concatenate([np.concatenate([speech, silence(0.5)]) for _, speech in held_out_utterances(4)])
    expected = FileTranscriber(_loaded(SPEECH_MODEL, monkeypatch, True)).transcribe_array(audio)
    with monkeypatch.context() as patch:  # NeMo's own modules, as a model loaded for the GPU has
        patch.setattr(packed, "available", lambda dtype=torch.float32: False)
        patch.setattr(lean, "lean_encoder", lambda nemo_model: 0)
        model = load_model(str(SPEECH_MODEL), "cpu", warm_up=False)
    assert not isinstance(model.nemo.decoder.prediction["dec_rnn"].lstm, packed.PackedLSTM)
    model.device = "cuda"
    model.move_to_cpu("The GPU ran out of memory")
    encoder = model.nemo.encoder
    assert isinstance(model.nemo.decoder.prediction["dec_rnn"].lstm, packed.PackedLSTM) == packed.available()
    assert isinstance(encoder.pre_encode.conv, lean.TailMaskedConvs)
    assert all(isinstance(layer.self_attn, lean.LeanRelPositionAttention) for layer in encoder.layers)
    moved = FileTranscriber(model).transcribe_array(audio)
    assert moved.text == expected.text and len(moved.text.split()) > 10
    assert timed_words(moved.words) == timed_words(expected.words)
