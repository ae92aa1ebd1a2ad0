"""The audio of each history entry, kept beside its text so that a wrong transcript can be played
and redone.

Each utterance's speech (what the speech gate passed to the recogniser, as spooled while the user
spoke: engine/audio/spool.py) is encoded to Ogg Opus (about 3 KB a second of speech) in the ``audio``
folder beside the history, on a worker thread so that the GUI and the engine never wait for the
encoder; the spool is removed once the audio is written. How long audio is kept is a setting
(``keep_audio``: off, 1 day, 7 days, 30 days, forever) with a size cap (``keep_audio_mb``): older
audio goes first. With "off" nothing is written and the spool goes as soon as the text is saved.
Qt-free: the app and the history window drive it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..engine.audio import SAMPLE_RATE, discard_spool, read_spool, resample
from ..settings import KeepAudio
from .store import Entry, History, HistoryError

logger = logging.getLogger(__name__)

SUFFIX = ".ogg"
PENDING = ".pending"  # a saved entry's spool, waiting for its audio to be written


class AudioShelf:
    def __init__(self, folder: Path, history: History, keep: KeepAudio = KeepAudio.WEEK, max_mb: int = 1000) -> None:
        self.folder = folder
        self.history = history
        self.keep, self.max_mb = KeepAudio(keep), max_mb
        self.problem: str | None = None  # why the last audio could not be kept
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="history-audio")

    @property
    def enabled(self) -> bool:
        return self.keep.days != 0

    def configure(self, keep: KeepAudio, max_mb: int) -> Future:
        """New retention rules; audio they no longer allow is removed (in the background)."""
        self.keep, self.max_mb = KeepAudio(keep), max_mb
        return self._worker.submit(self.prune)

    def keep_spool(self, entry_id: int, spooled: Path | None) -> Future | None:
        """Keep the audio of a saved entry from its spool (then removed) in the background; with
        audio off, the spool is removed now. None when there is nothing to do.

        The spool is renamed first (``<name>.entry-<id>.pending``): its text is saved, so it is
        no longer an utterance to recover; a run that ends before the audio is written leaves
        it to :meth:`finish_pending` at the next start."""
        if spooled is None:
            return None
        if not self.enabled:
            discard_spool(spooled)
            return None
        pending = spooled.with_name(f"{spooled.name}.entry-{entry_id}{PENDING}")
        try:
            spooled.replace(pending)
        except OSError as exc:
            logger.warning("Cannot set %s aside: %s", spooled, exc)
            discard_spool(spooled)
            return None
        return self._worker.submit(self._keep_spool, entry_id, pending)

    def finish_pending(self, folder: Path) -> Future:
        """At start, in the background: write the audio that an earlier run left waiting, then
        remove what the retention no longer allows."""
        def finish():
            for pending in sorted(folder.glob(f"*.entry-*{PENDING}")):
                try:
                    entry_id = int(pending.name.rsplit(".entry-", 1)[1].removesuffix(PENDING))
                except ValueError:
                    continue
                if self.enabled and self.history.get(entry_id) is not None:
                    self._keep_spool(entry_id, pending)
                else:
                    discard_spool(pending)
            self.prune()

        return self._worker.submit(finish)

    def _keep_spool(self, entry_id: int, spooled: Path) -> None:
        try:
            samples = read_spool(spooled)
        except OSError as exc:
            logger.warning("Cannot read %s: %s", spooled, exc)
            return
        if self.store(entry_id, samples):
            discard_spool(spooled)
        self.prune()

    def store(self, entry_id: int, samples: np.ndarray) -> bool:
        """Write an entry's audio; False (and ``problem`` says why) when it cannot be kept. The
        caller's copy of the audio (the spool) is then left where it is."""
        import soundfile

        name = f"utterance-{entry_id}{SUFFIX}"
        path = self.folder / name
        partial = path.with_name(f".{name}.partial")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            soundfile.write(partial, np.asarray(samples, np.float32), SAMPLE_RATE, format="OGG", subtype="OPUS")
            partial.replace(path)
            if not self.history.set_audio(entry_id, name):  # deleted meanwhile
                path.unlink(missing_ok=True)
        except (OSError, RuntimeError, HistoryError) as exc:  # soundfile reports a full disk as RuntimeError
            partial.unlink(missing_ok=True)
            self.problem = f"The audio of an utterance could not be kept ({exc})."
            logger.warning("%s", self.problem)
            return False
        self.problem = None
        return True

    def path(self, entry: Entry) -> Path | None:
        return self.folder / entry.audio if entry.audio else None

    def _kept(self, entry: Entry) -> Path:
        """The file of an entry listed with audio (``History.with_audio``)."""
        path = self.path(entry)
        assert path is not None, "an entry with audio names its file"
        return path

    def read(self, entry: Entry) -> np.ndarray:
        """An entry's audio as 16 kHz float32 samples; HistoryError says why it cannot be had."""
        import soundfile

        path = self.path(entry)
        if path is None:
            raise HistoryError("this entry has no audio (it was made with audio keeping off, or its "
                               "audio has expired)")
        try:
            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as exc:
            raise HistoryError(f"its audio cannot be read ({exc})") from exc
        return resample(samples.mean(axis=1), rate, SAMPLE_RATE)

    def forget(self, entries: list[Entry]) -> None:
        """Remove the audio of entries being deleted."""
        for entry in entries:
            if (path := self.path(entry)) is not None:
                path.unlink(missing_ok=True)

    def prune(self, now: float | None = None) -> int:
        """Remove audio older than the retention allows, then the oldest while the total is over
        the cap; the number removed."""
        days = self.keep.days
        now = time.time() if now is None else now
        try:
            entries = self.history.with_audio()
        except HistoryError as exc:
            logger.warning("Cannot prune kept audio: %s", exc)
            return 0
        sizes: dict[int, int | None] = {}
        for entry in entries:
            try:
                sizes[entry.id] = self._kept(entry).stat().st_size
            except OSError:
                sizes[entry.id] = None  # gone from disk: forget it below
        total, cap = sum(size or 0 for size in sizes.values()), self.max_mb * 2**20
        removed = 0
        for entry in entries:  # oldest first
            expired = days is not None and (days == 0 or entry.created < now - days * 86400)
            if not (expired or total > cap or sizes[entry.id] is None):
                continue
            try:
                self._kept(entry).unlink(missing_ok=True)
                self.history.set_audio(entry.id, None)
            except (OSError, HistoryError) as exc:
                logger.warning("Cannot remove the audio of entry %d: %s", entry.id, exc)
                continue
            total -= sizes[entry.id] or 0
            removed += 1
        return removed

    def close(self, wait: bool = True) -> None:
        """Stop the writer; without *wait* (a quick quit), audio not yet written stays pending."""
        self._worker.shutdown(wait=wait, cancel_futures=not wait)
