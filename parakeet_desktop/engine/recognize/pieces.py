"""Long audio cut at pauses into pieces the model takes whole, and stretches of speech that gave
no words found afterwards (so that a user hears where the model may have missed some).

A cut falls in the middle of the longest stretch of non-speech that webrtcvad finds near the
limit, so that no word is cut in two where a pause can be had.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE, speech_frames
from .transcript import Word

VAD_FRAME_MS = 30  # the speech detector's frame, for the cuts and the check alike


@dataclass(frozen=True)
class Piece:
    """Samples ``start:end`` of a file, recognised as one unit."""

    start: int
    end: int


def plan_pieces(samples: np.ndarray, max_piece_seconds: float, aggressiveness: int = 2,
                speech: np.ndarray | None = None) -> list[Piece]:
    """Cut *samples* into pieces no longer than *max_piece_seconds*, at pauses where possible.

    Each cut is searched for in the second half of the remaining window: the middle of the longest
    run of non-speech frames there, or the quietest frame when the speaker never pauses.
    """
    total = len(samples)
    limit = int(max_piece_seconds * SAMPLE_RATE)
    if total <= limit:
        return [Piece(0, total)]
    frame = SAMPLE_RATE * VAD_FRAME_MS // 1000
    if speech is None:
        speech = speech_frames(samples, VAD_FRAME_MS, aggressiveness)
    pieces = []
    start = 0
    while total - start > limit:
        first, last = (start + limit // 2) // frame, (start + limit) // frame
        cut_frame = _longest_pause_middle(speech[first:last])
        if cut_frame is None:
            window = samples[first * frame : last * frame].reshape(-1, frame)
            cut_frame = int(np.argmin(np.square(window).mean(axis=1)))
        cut = (first + cut_frame) * frame
        pieces.append(Piece(start, cut))
        start = cut
    pieces.append(Piece(start, total))
    return pieces


def _longest_pause_middle(speech: np.ndarray) -> int | None:
    best_len, best_mid, run_start = 0, None, None
    for i, is_speech in enumerate(np.append(speech, True)):
        if not is_speech and run_start is None:
            run_start = i
        elif is_speech and run_start is not None:
            if i - run_start > best_len:
                best_len, best_mid = i - run_start, (run_start + i) // 2
            run_start = None
    return best_mid


# Speech (as webrtcvad hears it) this long with no recognised word in it is worth a warning:
# a model that drops sentences must not go unnoticed behind a short text and exit status 0.
SPEECH_WITHOUT_WORDS_SECONDS = 10.0
_DENSE_SPEECH = 0.5  # share of voiced frames that makes a stretch "speech"


def speech_without_words(samples: np.ndarray, words: list[Word], aggressiveness: int = 2,
                         min_seconds: float = SPEECH_WITHOUT_WORDS_SECONDS,
                         speech: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Stretches (start, end in seconds) of at least *min_seconds* that are mostly speech and
    hold no recognised word. *speech*: webrtcvad's 30 ms flags of *samples*, when known already."""
    if len(samples) < min_seconds * SAMPLE_RATE:
        return []
    frame_seconds = VAD_FRAME_MS / 1000
    if speech is None:
        speech = speech_frames(samples, VAD_FRAME_MS, aggressiveness)
    covered = np.zeros(len(speech), dtype=bool)
    for word in words:  # a word and a little around it counts as heard
        covered[max(0, int((word.start - 0.5) / frame_seconds)) : int((word.end + 0.5) / frame_seconds) + 1] = True
    window = int(2.0 / frame_seconds)  # judge speech density over 2 s (shorter than min_seconds)
    density = np.convolve(speech.astype(float), np.ones(window) / window, mode="same")
    unheard = (density >= _DENSE_SPEECH) & ~covered
    stretches, start = [], None
    for index, flag in enumerate(np.append(unheard, False)):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            if (index - start) * frame_seconds >= min_seconds:
                stretches.append((round(start * frame_seconds, 1), round(index * frame_seconds, 1)))
            start = None
    return stretches


def unheard_speech_warning(stretches: list[tuple[float, float]]) -> str | None:
    if not stretches:
        return None
    seconds = sum(end - start for start, end in stretches)
    where = ", ".join(f"{_clock(start)}–{_clock(end)}" for start, end in stretches[:5])
    more = f" and {len(stretches) - 5} more" if len(stretches) > 5 else ""
    return (f"{seconds:.0f} s of what sounds like speech gave no text ({where}{more}); the model may "
            "have missed words there")


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"
