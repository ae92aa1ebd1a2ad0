"""The utterance in progress, on disk: what the user is saying survives a crash, a ``kill -9``
or a power cut.

While a dictation utterance runs, the speech that reaches the recogniser is appended to a file in
the data folder (16-bit mono PCM at 16 kHz, no header, so a file cut off anywhere is still
readable), written and flushed to disk about once a second. The app deletes the file once the
final text is in the history. Files left over at the next start are the utterances of a run that
ended before its text was saved: the app transcribes them and puts them in the history.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .decode import SAMPLE_RATE

logger = logging.getLogger(__name__)

SUFFIX = ".s16"
_numbers = itertools.count(1)


class Spool:
    """One utterance at a time: :meth:`begin`, :meth:`append` as audio comes, :meth:`end`."""

    def __init__(self, folder: Path, flush_seconds: float = 1.0) -> None:
        self.folder = folder
        self.flush_samples = int(flush_seconds * SAMPLE_RATE)
        self.path: Path | None = None
        self._file: BinaryIO | None = None
        self._waiting: list[np.ndarray] = []
        self._waiting_samples = 0
        self.failed: str | None = None  # why spooling stopped (the folder is full or read-only)

    def begin(self) -> None:
        self.end()
        self.path = self.folder / f"utterance-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{next(_numbers)}{SUFFIX}"
        self._file = None

    def append(self, samples: np.ndarray) -> None:
        if self.path is None or self.failed is not None or not len(samples):
            return
        self._waiting.append(np.asarray(samples, dtype=np.float32))
        self._waiting_samples += len(samples)
        if self._waiting_samples >= self.flush_samples:
            self._flush()

    def end(self) -> Path | None:
        """Write what is waiting and close; the file's path (None when nothing was spooled).
        The file stays until :func:`discard` (its text is safe)."""
        if self.path is None:
            return None
        self._flush()
        path, self.path = self.path, None
        if self._file is not None:
            self._file.close()
            self._file = None
            return path
        return None

    def _flush(self) -> None:
        if not self._waiting or self.failed is not None:
            return
        pcm = (np.clip(np.concatenate(self._waiting), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self._waiting, self._waiting_samples = [], 0
        try:
            if self._file is None:
                assert self.path is not None  # audio comes only between start() and finish()
                self.folder.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - open for the utterance
            self._file.write(pcm)
            os.fsync(self._file.fileno())
        except OSError as exc:
            self.failed = f"the utterance in progress cannot be kept on disk ({exc.strerror or exc})"
            logger.warning("Spooling stopped: %s", exc)


def discard_spool(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("Could not remove %s: %s", path, exc)


def spool_leftovers(folder: Path) -> list[Path]:
    """Spooled utterances of earlier runs, oldest first."""
    try:
        return sorted(folder.glob(f"utterance-*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []


def read_spool(path: Path) -> np.ndarray:
    """A spooled utterance as float32 samples (a half sample cut off by a crash is dropped)."""
    data = path.read_bytes()
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
