"""The decoder's side of a streamed utterance, the same for both streaming routes: the phrase
list held for it, the decoder state carried from step to step (predictor state, last label and,
for TDT, how far a duration jumped past the step), and the tokens, frame times and durations
kept so far."""

from __future__ import annotations

from ..model import ParakeetModel, Recognition
from .vocabulary import NO_LIST, Vocabulary


class CarriedDecoding:
    def __init__(self, model: ParakeetModel, vocabulary: Vocabulary | None = None) -> None:
        self.model = model
        self.vocabulary = vocabulary  # the phrases to favour; the model's own in force when None
        self._list_id: int | None = None  # the phrase list held for the utterance in progress
        self.clear()

    def clear(self) -> None:
        """Forget the utterance (the phrase list is given back by :meth:`let_go_of_vocabulary`)."""
        self._state = None
        self.tokens: list[int] = []
        self._frames: list[int] = []
        self._durations: list[int] = []

    def decode(self, encoded, frames: int, carry: bool = True):
        """Decode the first *frames* of *encoded* (``[1, T, D]``) from the carried state, with the
        utterance's phrase list; the hypothesis of those frames. *carry*: keep the state after
        them (else the state stays, and the text is only a look at what may come)."""
        import torch
        from nemo.collections.asr.parts.utils.rnnt_utils import batched_hyps_to_hypotheses

        computer = self.model.nemo.decoding.decoding.decoding_computer
        if self._list_id is None:
            self._list_id = self.model.hold_vocabulary(self.vocabulary)
        device = encoded.device
        boosting = ({} if self._list_id == NO_LIST else
                    {"multi_biasing_ids": torch.tensor([self._list_id], dtype=torch.long, device=device)})
        # A fresh batched copy of the state each call: the computer may update the state it is given.
        state = None if self._state is None else computer.merge_to_batched_state([self._state])
        with torch.inference_mode():
            hyps, after = self.model.decode(lambda: computer(
                x=encoded, out_len=torch.tensor([frames], device=device), prev_batched_state=state, **boosting))
        if carry:
            self._state = computer.split_batched_state(after)[0]
        return batched_hyps_to_hypotheses(hyps, batch_size=1)[0]

    def keep(self, hypothesis, leave_out: frozenset[int] | dict = frozenset()) -> list[int]:
        """Add a decoded hypothesis's tokens, with their frame times (counted from the
        utterance's start: with a carried state, NeMo's computer adds the frames decoded before)
        and durations; tokens in *leave_out* (marks that are not words) are not kept. Returns
        every token it had."""
        tokens = [int(t) for t in hypothesis.y_sequence]
        frames = [int(t) for t in hypothesis.timestamp]
        durations = [int(d) for d in hypothesis.token_duration] if hypothesis.token_duration is not None else []
        for index, token in enumerate(tokens):
            if token in leave_out:
                continue
            self.tokens.append(token)
            self._frames.append(frames[index])
            if index < len(durations):
                self._durations.append(durations[index])
        return tokens

    def text(self, tokens: list[int]) -> str:
        decoding = self.model.nemo.decoding
        return decoding.decode_tokens_to_str_with_strip_punctuation(tokens) if tokens else ""

    def recognition(self, duration: float) -> Recognition:
        """The utterance's text and timed words from the tokens kept."""
        import torch
        from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis

        hyp = Hypothesis(score=0.0, y_sequence=torch.tensor(self.tokens, dtype=torch.long),
                         timestamp=torch.tensor(self._frames, dtype=torch.long))
        if len(self._durations) == len(self.tokens):
            hyp.token_duration = torch.tensor(self._durations, dtype=torch.long)
        return self.model.recognition_of(hyp, duration)

    def let_go_of_vocabulary(self) -> None:
        """Give back the phrase list held for this utterance (also when it ended another way)."""
        if self._list_id is not None:
            self.model.let_go_vocabulary(self._list_id)
        self._list_id = None
