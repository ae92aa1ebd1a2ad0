"""Whole-file transcription: decode, split long audio at pauses, batch pieces, recognise, assemble.

Long audio is cut at pauses into pieces of at most ``max_piece_seconds`` (a cut falls in the
middle of the longest stretch of non-speech that webrtcvad finds near the limit), so memory stays
bounded however long the file is and pieces of several files share a batch. Pieces of similar
length are batched together, within a budget of padded seconds, so little work goes to padding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, load_audio, speech_frames
from ..model import ParakeetModel, Recognition, RecognitionCancelled, is_out_of_memory, memory
from .flags import AnyOf, Flag
from .language import identify
from .pieces import (
    SPEECH_WITHOUT_WORDS_SECONDS,
    VAD_FRAME_MS,
    Piece,
    plan_pieces,
    speech_without_words,
    unheard_speech_warning,
)
from .transcript import Transcript, Word, floor_ms, join_texts, segments_from_words
from .vocabulary import Vocabulary

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

_MAX_PADDING = 0.2  # share of a batch's work that may go to padding
# After this much audio, the memory its work freed is given back to the system (engine/model/memory.py).
_GIVE_BACK_SECONDS = 60.0
# On the CPU a decoding step of many rows costs little more than one of a single row (the
# joint's product: 0.2-0.35 ms for one to five rows, 0.6 ms for sixteen), while the encoder
# gains nothing from batching: pieces are encoded batch by batch and decoded together, this many
# rows at most (their encoder outputs are small: 1.5 MB per 30 s). The first batch is decoded at
# once, so that a long file's first words show early, and each group after may be twice the last.
_DECODE_ROWS = 16


# The encoder's share of a batch's time (the rest is decoding), for progress within a batch.
_ENCODER_SHARE = 0.9


@dataclass(frozen=True)
class Progress:
    """How far a job is: seconds of audio recognised of the total known so far, and the file."""

    done_seconds: float
    total_seconds: float
    file_index: int
    file_count: int
    current: str
    # The text of the oldest unfinished file's pieces recognised so far, from its start up to
    # the first piece still waiting (what a client streaming the text may show already).
    text: str = ""

    @property
    def fraction(self) -> float:
        return self.done_seconds / self.total_seconds if self.total_seconds else 0.0


@dataclass(frozen=True)
class AudioInput:
    """Audio decoded already (an upload the local service checked): recognised as a file is,
    under *name*."""

    name: str
    samples: np.ndarray
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass
class FileResult:
    """The outcome for one file: a transcript, or the reason there is none."""

    path: Path
    transcript: Transcript | None = None
    error: str | None = None


@dataclass
class _Pending:
    path: Path
    samples: np.ndarray
    pieces: list[Piece]
    warnings: list[str]
    speech: np.ndarray | None  # webrtcvad's flags, for audio long enough to need them
    results: dict[int, Recognition] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.pieces)


@dataclass
class _Encoded:
    """A piece encoded on the CPU, waiting to be decoded with others."""

    pending: _Pending
    number: int
    encoded: torch.Tensor  # [D, T], the piece's frames only
    duration: float


class FileTranscriber:
    """Transcribes files and arrays with a loaded model, batching pieces across files."""

    def __init__(self, model: ParakeetModel, *, max_piece_seconds: float | None = None,
                 batch_seconds: float | None = None, vad_aggressiveness: int = 2,
                 yield_to: Callable[[], None] | None = None, interrupt: Flag | None = None,
                 vocabulary: Vocabulary | None = None,
                 finish: Callable[[Transcript, np.ndarray], Transcript] | None = None) -> None:
        """*yield_to* is called before every batch, and *interrupt* stops a batch in flight, which
        then runs again after *yield_to*: how the live engine gives dictation the model first.
        *vocabulary*: the phrases to favour (the model's own in force when None). *finish*: a
        last step for each transcript, given its audio (engine/speakers/: its speakers)."""
        self.model = model
        self.finish = finish
        self.vocabulary = vocabulary
        self.yield_to = yield_to
        self.interrupt = interrupt
        self._max_piece_seconds = max_piece_seconds
        self._batch_seconds = batch_seconds
        self.vad_aggressiveness = vad_aggressiveness
        self._encoded: list[_Encoded] = []  # on the CPU: pieces encoded, not yet decoded
        self._decode_at = 1  # rows encoded that start a decoding (doubles up to _DECODE_ROWS)

    # Unless given, both follow the model, which measured its GPU's room for batches when it
    # loaded and may move to the CPU in the middle of a job.
    @property
    def max_piece_seconds(self) -> float:
        return self._max_piece_seconds or self.model.max_piece_seconds

    @property
    def batch_seconds(self) -> float:
        return max(self._batch_seconds or self.model.batch_seconds, self.max_piece_seconds)

    def transcribe_array(self, samples: np.ndarray, source: str = "audio",
                         cancel: Flag | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 samples."""
        self._encoded, self._decode_at = [], 1  # what a cancelled call left
        pending = self._prepare(Path(source), samples, [])
        for batch in self._batches([pending]):
            self._run(batch, cancel)
        self._decode_encoded()
        transcript = self._assemble(pending)
        if len(samples) >= _GIVE_BACK_SECONDS * SAMPLE_RATE:
            memory.give_back()
        return transcript

    def transcribe_files(self, paths: Iterable[str | Path | AudioInput], *,
                         progress: Callable[[Progress], None] | None = None,
                         cancel: Flag | None = None) -> Iterator[FileResult]:
        """Transcribe files, yielding each file's result as soon as it is complete.

        Pieces of consecutive files share batches, so a short file's result may wait for the
        next file. A file that cannot be decoded yields its error at once and the others go on.
        Raises RecognitionCancelled when *cancel* is set; results already yielded stand.
        """
        sources = [p if isinstance(p, AudioInput) else Path(p) for p in paths]
        self._encoded, self._decode_at = [], 1  # what a cancelled call left
        total = 0.0
        done = 0.0
        waiting: list[_Pending] = []

        def report(index: int, current: Path, partial: float = 0.0) -> None:
            if progress is not None:
                text = _leading_text(waiting[0]) if waiting else ""
                progress(Progress(done + partial, total, index, len(sources), current.name, text))

        def recognise(index: int, current: Path, flush: bool) -> Iterator[FileResult]:
            nonlocal done
            for batch in self._batches(waiting, flush):
                seconds = sum(len(piece_samples) for _, _, piece_samples in batch) / SAMPLE_RATE

                def within(share: float, seconds=seconds) -> None:  # the encoder's layers move the bar on
                    report(index, current, _ENCODER_SHARE * share * seconds)

                self._run(batch, cancel, within if progress is not None else None)
                done += seconds
                report(index, current)
            self._decode_encoded()
            while waiting and waiting[0].done:
                finished = waiting.pop(0)
                yield FileResult(finished.path, transcript=self._assemble(finished))

        for index, source in enumerate(sources):
            if cancel is not None and cancel.is_set():
                raise RecognitionCancelled()
            path = Path(source.name) if isinstance(source, AudioInput) else source
            report(index, path)
            try:
                decoded = source if isinstance(source, AudioInput) else load_audio(source)
            except AudioError as exc:
                yield FileResult(path, error=exc.reason)
                continue
            waiting.append(self._prepare(path, decoded.samples, list(decoded.warnings)))
            total += decoded.duration
            yield from recognise(index, path, flush=False)
        if waiting:
            yield from recognise(len(sources) - 1, waiting[-1].path, flush=True)
        report(len(sources), Path(sources[-1].name) if sources else Path())
        if total >= _GIVE_BACK_SECONDS:
            memory.give_back()  # a long file's decoded audio and batches are freed by now

    def _prepare(self, path: Path, samples: np.ndarray, warnings: list[str]) -> _Pending:
        # One pass of the speech detector serves both the cuts at pauses and the check for
        # speech that gave no text.
        speech = (speech_frames(samples, VAD_FRAME_MS, self.vad_aggressiveness)
                  if len(samples) >= min(self.max_piece_seconds, SPEECH_WITHOUT_WORDS_SECONDS) * SAMPLE_RATE
                  else None)
        pieces = plan_pieces(samples, self.max_piece_seconds, self.vad_aggressiveness, speech)
        return _Pending(path, samples, pieces, list(warnings), speech)

    def _batches(self, waiting: list[_Pending], flush: bool = True):
        """Batches of (file, piece number, samples) not yet recognised, shortest pieces together.

        A batch is closed when padding every piece to its longest would exceed the budget or
        waste more than ``_MAX_PADDING`` of the work. Without *flush*, a last batch under half
        the budget is kept back to be filled by the next file's pieces.
        """
        todo = [(p, i, p.samples[piece.start : piece.end])
                for p in waiting for i, piece in enumerate(p.pieces) if i not in p.results]
        todo.sort(key=lambda item: len(item[2]))
        budget = int(self.batch_seconds * SAMPLE_RATE)
        batch: list[tuple[_Pending, int, np.ndarray]] = []
        useful = 0
        for item in todo:
            length = len(item[2])
            padded = length * (len(batch) + 1)
            if batch and (padded > budget or padded > (useful + length) * (1 + _MAX_PADDING)):
                yield batch
                batch, useful = [], 0
            batch.append(item)
            useful += length
        if batch and (flush or 2 * len(batch[-1][2]) * len(batch) > budget):
            yield batch

    def _run(self, batch, cancel: Flag | None, within: Callable[[float], None] | None = None) -> None:
        pieces = [samples for _, _, samples in batch]
        later = self.model.device == "cpu"  # encode now, decode with other batches' pieces
        while True:
            if cancel is not None and cancel.is_set():
                raise RecognitionCancelled()
            if self.yield_to is not None:
                self.yield_to()
            try:
                if later:
                    stop = AnyOf(cancel, self.interrupt)
                    encoded, lengths = self.model.encode_batch(pieces, stop, within)
                    if stop.is_set():  # set after the last layer's check
                        raise RecognitionCancelled()
                else:
                    recognitions = self.model.recognize(pieces, AnyOf(cancel, self.interrupt), within,
                                                        self.vocabulary)
                break
            except RecognitionCancelled:
                if self.interrupt is None or not self.interrupt.is_set() or (cancel is not None and cancel.is_set()):
                    raise
                # Interrupted to let dictation have the model (or by a shutdown, which yield_to
                # raises): the batch runs again after it.
            except Exception as exc:
                if not (later and is_out_of_memory(exc)):
                    raise
                later = False  # recognize() splits what does not fit, piece by piece at the last
        if later:
            for row, (pending, number, samples) in enumerate(batch):
                self._encoded.append(_Encoded(pending, number, encoded[row, :, : int(lengths[row])].clone(),
                                              len(samples) / SAMPLE_RATE))
            if len(self._encoded) >= min(self._decode_at, _DECODE_ROWS):
                self._decode_encoded()
                self._decode_at = min(2 * self._decode_at, _DECODE_ROWS)
            return
        for (pending, number, _), recognition in zip(batch, recognitions, strict=True):
            pending.results[number] = recognition

    def _decode_encoded(self) -> None:
        """Decode the pieces encoded so far (on the CPU), all in one batch."""
        if not self._encoded:
            return
        import torch

        if self.yield_to is not None:  # dictation first, as before each batch
            self.yield_to()
        waiting, self._encoded = self._encoded, []
        frames = [row.encoded.shape[-1] for row in waiting]
        encoded = torch.zeros(len(waiting), waiting[0].encoded.shape[0], max(frames))
        for index, row in enumerate(waiting):
            encoded[index, :, : frames[index]] = row.encoded
        list_id = self.model.hold_vocabulary(self.vocabulary)
        try:
            recognitions = self.model.decode_encoded(encoded, torch.tensor(frames), [r.duration for r in waiting],
                                                     list_id)
        finally:
            self.model.let_go_vocabulary(list_id)
        for row, recognition in zip(waiting, recognitions, strict=True):
            row.pending.results[row.number] = recognition

    def _assemble(self, pending: _Pending) -> Transcript:
        words: list[Word] = []
        limit = floor_ms(len(pending.samples) / SAMPLE_RATE)
        for number, piece in enumerate(pending.pieces):
            offset = piece.start / SAMPLE_RATE
            words.extend(Word(w.text, min(round(w.start + offset, 3), limit),
                              min(round(w.end + offset, 3), limit))
                         for w in pending.results[number].words)
        warnings = list(pending.warnings)
        unheard = unheard_speech_warning(speech_without_words(pending.samples, words, self.vad_aggressiveness,
                                                              speech=pending.speech))
        if unheard:
            warnings.append(unheard)
        transcript = Transcript(
            source=str(pending.path), duration=len(pending.samples) / SAMPLE_RATE,
            segments=segments_from_words(words), model=self.model.name, warnings=warnings,
        )
        transcript.language = identify(transcript.text, self.model.languages)
        if self.finish is not None:
            transcript = self.finish(transcript, pending.samples)
        return transcript


def _leading_text(pending: _Pending) -> str:
    """Joined from the words, as the transcript's text will be, so each report's text begins
    with the one before and the finished transcript's text begins with the last."""
    words: list[str] = []
    for number in range(len(pending.pieces)):
        if number not in pending.results:
            break
        words.extend(word.text for word in pending.results[number].words)
    return join_texts(words)
