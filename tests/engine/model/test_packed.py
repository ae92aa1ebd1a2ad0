"""oneDNN's products on the CPU (engine/model/packed.py): the same arithmetic as the modules they
replace, and with them the committed speech models give the same text and the same word times,
through files and through both streaming routes. The reference is the same model loaded with
oneDNN unavailable (the path a PyTorch built without it takes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from parakeet_desktop.engine.model import packed
from support.models import SPEECH_MODEL, STREAMING_MODEL
from support.speech import heard_every_way, held_out_utterances, silence

pytestmark = pytest.mark.skipif(not packed.available(), reason="oneDNN's inner product")


@pytest.mark.parametrize("rows, bias, laid_out",
                         [(1, True, False), (3, False, True), (7, True, True), (40, False, False)])
def test_a_onednn_linear_computes_what_the_linear_does(rows, bias, laid_out):
    torch.manual_seed(rows)
    linear = torch.nn.Linear(96, 200, bias=bias)
    layer = packed.OneDnnLinear.of(linear, packed=laid_out)
    with torch.inference_mode():
        for shape in ((rows, 96), (rows, 1, 1, 96)):
            x = torch.randn(*shape)
            assert torch.allclose(layer(x), linear(x), atol=1e-5)
        layer.to(torch.float64)  # another number type takes the plain product
        x = torch.randn(rows, 96, dtype=torch.float64)
        assert torch.allclose(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))


@pytest.mark.parametrize("steps, batch, with_state", [(1, 1, True), (1, 4, True), (5, 2, False)])
def test_a_packed_lstm_computes_what_the_lstm_does(steps, batch, with_state):
    torch.manual_seed(steps * 10 + batch)
    lstm = torch.nn.LSTM(48, 64, num_layers=2).eval()
    mine = packed.PackedLSTM(lstm)
    x = torch.randn(steps, batch, 48)
    state = (torch.randn(2, batch, 64), torch.randn(2, batch, 64)) if with_state else None
    with torch.inference_mode():
        expected, (h, c) = lstm(x, state)
        got, (h2, c2) = mine(x, state)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(h2, h, atol=1e-5) and torch.allclose(c2, c, atol=1e-5)


def _loaded(path, monkeypatch, pack: bool):
    from parakeet_desktop.engine.model.loader import load_model

    with monkeypatch.context() as patch:
        if not pack:
            patch.setattr(packed, "available", lambda dtype=torch.float32: False)
        model = load_model(str(path), "cpu", warm_up=False)
    assert isinstance(model.nemo.decoder.prediction["dec_rnn"].lstm, packed.PackedLSTM) == pack
    linear = [m for m in model.nemo.encoder.modules() if isinstance(m, (torch.nn.Linear, packed.OneDnnLinear))]
    assert linear and all(isinstance(m, packed.OneDnnLinear) == pack for m in linear)
    return model


def test_the_speech_models_hear_the_same_with_onednn_products(monkeypatch):
    audio = np.concatenate([np.concatenate([speech, silence(0.7)]) for _, speech in held_out_utterances(8)])
    results = {}
    for pack in (False, True):
        results[pack] = heard_every_way(_loaded(SPEECH_MODEL, monkeypatch, pack),
                                        _loaded(STREAMING_MODEL, monkeypatch, pack), audio)
    assert results[True] == results[False]
    assert len(results[True][0][0].split()) > 40  # real text, all through
