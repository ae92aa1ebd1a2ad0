"""What the service's tests share."""

from __future__ import annotations

import numpy as np
import pytest

from support.service import wav
from support.speech import held_out_utterances, silence


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    """A held-out sentence the speech model recognises: (text, samples, WAV path)."""
    text, speech = held_out_utterances(1)[0]
    samples = np.concatenate([silence(0.3), speech, silence(0.3)])
    return text, samples, wav(tmp_path_factory.mktemp("sentence") / "sentence.wav", samples)
