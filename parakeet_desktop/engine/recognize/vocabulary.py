"""The vocabulary: words and phrases the recogniser favours while it decodes (NeMo's phrase
boosting), for names, product words and jargon no model knows well.

Each list is compiled once into a boosting tree (a weighted prefix tree over the model's
tokens) and added to the decoder's multi-model (``enable_per_stream_biasing``, set when the
model loads); a batch or stream names its list by id, so lists change (settings, a request's own
keywords) without rebuilding the decoder or reloading the model. Ids are counted: a list a
stream still decodes with stays until the stream lets go of it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

NO_LIST = -1  # the decoder's id for "no boosting"
DEFAULT_STRENGTH = 5
MAX_PHRASES = 10_000


@dataclass(frozen=True)
class Vocabulary:
    """Phrases as they should be written (cased models want the capitals) and how strongly to
    favour them: 1 (a nudge) to 10 (strong; other words suffer)."""

    phrases: tuple[str, ...] = ()
    strength: float = DEFAULT_STRENGTH

    @property
    def alpha(self) -> float:
        # The boosting tree's weight: strength 5 → 2.0, where bench/vocabulary.py found recall
        # clearly up while other sentences' WER moved by well under a point.
        return 0.4 * self.strength

    def __bool__(self) -> bool:
        return bool(self.phrases)


def clean_phrases(lines) -> tuple[str, ...]:
    """One phrase a line: blank lines and ``#`` comments dropped, inner spaces made single,
    duplicates dropped (the first kept)."""
    seen: dict[str, None] = {}
    for line in lines:
        phrase = " ".join(str(line).split())
        if phrase and not phrase.startswith("#"):
            seen.setdefault(phrase, None)
    return tuple(seen)[:MAX_PHRASES]


def read_vocabulary(path: str | Path) -> tuple[str, ...]:
    """The phrases of a text file, one a line (UTF-8)."""
    try:
        return clean_phrases(Path(path).read_text("utf-8").splitlines())
    except UnicodeDecodeError as exc:
        raise ValueError(f"{Path(path).name} is not a UTF-8 text file ({exc.reason})") from None


class PhraseLists:
    """Compiled lists in one model's decoder, shared by id and counted."""

    def __init__(self, nemo_model) -> None:
        self._nemo = nemo_model
        self._lock = threading.Lock()
        self._ids: dict[Vocabulary, int] = {}
        self._holders: dict[int, int] = {}

    @property
    def _multi_model(self):
        computer = getattr(self._nemo.decoding.decoding, "decoding_computer", None)
        return getattr(computer, "biasing_multi_model", None)

    @property
    def available(self) -> bool:
        return self._multi_model is not None

    def hold(self, vocabulary: Vocabulary) -> int:
        """The id of *vocabulary*'s compiled list (compiled now if new); NO_LIST for an empty
        one or a decoder without boosting. Every id held is given back with :meth:`let_go`."""
        if not vocabulary or not self.available:
            return NO_LIST
        with self._lock:
            if vocabulary not in self._ids:
                self._ids[vocabulary] = self._compile(vocabulary)
                self._holders[self._ids[vocabulary]] = 0
            list_id = self._ids[vocabulary]
            self._holders[list_id] += 1
            return list_id

    def let_go(self, list_id: int) -> None:
        if list_id == NO_LIST:
            return
        with self._lock:
            self._holders[list_id] -= 1
            if self._holders[list_id] > 0:
                return
            del self._holders[list_id]
            self._ids = {v: i for v, i in self._ids.items() if i != list_id}
            self._multi_model.remove_model(list_id)

    def _compile(self, vocabulary: Vocabulary) -> int:
        from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import (
            BoostingTreeModelConfig,
            GPUBoostingTreeModel,
        )

        # The tree's own Triton path is never used: the multi-model advances every list (with
        # Triton where it is installed, plain PyTorch elsewhere).
        config = BoostingTreeModelConfig(key_phrases_list=list(vocabulary.phrases), use_triton=False)
        tree = GPUBoostingTreeModel.from_config(config, tokenizer=self._nemo.tokenizer)
        multi = self._multi_model
        tree = tree.to(next(multi.buffers()).device)
        return multi.add_model(tree, alpha=vocabulary.alpha)
