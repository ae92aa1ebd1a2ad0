"""Conversations of espeak-ng voices for the speaker tests, made here: voices of espeak variants
the diarization fixture never trained on, saying sentences it never heard (tools/
train_diarization_fixture.py makes its own the same way), and what the tests measure of a
diarization: NeMo's diarization error rate and the share of words given to their speaker."""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass

import numpy as np

from tools.fixture_corpus import held_out_sentences
from tools.speech import speak
from tools.train_diarization_fixture import HELD_OUT_VARIANTS, conversation, synthesize_pool, trimmed, voices

from .models import DIARIZATION_MODEL, SPEAKER_MODEL

__all__ = ["attributed", "Conversation", "DIARIZATION_MODEL", "error_rate", "make_conversation", "reference_clip",
           "SPEAKER_MODEL", "voice_pool"]


@dataclass
class Conversation:
    audio: np.ndarray
    segments: list[tuple[float, float, int]]  # (start, end, speaker in order of arrival)
    voices: list[int]  # the voice pool's voices, in order of arrival

    @property
    def speakers(self) -> int:
        return len({speaker for _, _, speaker in self.segments})


@functools.lru_cache(maxsize=1)
def _voices(seed: int = 11, count: int = 12, per_voice: int = 4):
    rng = random.Random(seed)
    chosen = voices(count, HELD_OUT_VARIANTS, rng)
    return chosen, synthesize_pool(chosen, held_out_sentences(400, 4000)[260:], per_voice, rng)


def voice_pool():
    """12 voices of held-out variants, each with 4 utterances of sentences beyond the fixtures'
    held-out sets: [(audio, speech start, speech end), ...] per voice."""
    return _voices()[1]


def reference_clip(voice: int, text: str = "my old friend walked to the quiet river yesterday") -> np.ndarray:
    """The pool's *voice* saying *text* (a sentence of its own, not one of the conversation's)."""
    chosen = _voices()[0][voice]
    audio, start, end = trimmed(speak(text, chosen.name, chosen.speed, chosen.pitch))
    return audio[start:end]


def make_conversation(seconds: float, speakers: int, seed: int) -> Conversation:
    """Turns of *speakers* distinct voices for about *seconds*, with pauses and some overlap."""
    chosen: list[int] = []
    audio, segments = conversation(voice_pool(), seconds, random.Random(seed), np.random.default_rng(seed), speakers,
                                   chosen)
    return Conversation(audio, segments, chosen)


def error_rate(references: list[Conversation], turns: list[list]) -> float:
    """NeMo's DER (its md-eval port; collar 0.25 s, overlap scored) of *turns* (engine Turns, one
    list a conversation) against the conversations' own segments."""
    from nemo.collections.asr.metrics.der import score_labels_from_rttm_labels

    refs = [(f"c{i}", [f"{s:.2f} {e:.2f} ref{k}" for s, e, k in c.segments]) for i, c in enumerate(references)]
    hyps = [(f"c{i}", [f"{t.start:.2f} {t.end:.2f} hyp{t.speaker}" for t in found] or ["0.00 0.01 hyp0"])
            for i, found in enumerate(turns)]
    result = score_labels_from_rttm_labels(refs, hyps, collar=0.25, ignore_overlap=False, verbose=False)
    assert result is not None
    return float(result[2][0])


def attributed(words, names: list[str], conversation: Conversation) -> float:
    """The share of *words* (each with a speaker name) spoken by the speaker their name stands
    for, under the best mapping of names to the conversation's speakers. A word counts as right
    when its middle lies in a turn of that speaker (overlaps and pauses give some room)."""
    def speakers_at(middle: float) -> set[int]:
        return {k for s, e, k in conversation.segments if s - 0.2 <= middle <= e + 0.2}

    heard = [(speakers_at((w["start"] + w["end"]) / 2), w["speaker"]) for w in words]
    if not heard:
        return 0.0
    best = 0
    for order in itertools.permutations(range(max(conversation.speakers, len(names)))):
        mapping = dict(zip(names, order, strict=False))
        best = max(best, sum(mapping.get(name) in truth for truth, name in heard))
    return best / len(heard)
