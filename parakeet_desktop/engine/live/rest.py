"""Giving the GPU back while idle: after the settings' minutes without dictation, files or
streams, the model's weights move to CPU memory and the GPU's cached memory is freed (a game or
another GPU program can have it); the next piece of work moves them back first.

Nothing waits on the move but recognition: capture goes on (the microphone feeds the engine's
inbox from its own thread), so audio spoken while the model wakes is kept and recognised once it
is back. A wake-up that takes longer than a moment is announced (the overlay says so).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .events import Event, ModelResting, WakingUp

logger = logging.getLogger(__name__)

WAKING_NOTICE_SECONDS = 0.3  # a wake-up longer than this is shown


class IdleRest:
    """When the live engine's model rests and wakes (called on the engine thread)."""

    def __init__(self, model, emit: Callable[[Event], None], after_seconds: float | None,
                 clock: Callable[[], float] = time.monotonic, also: Callable[[], None] | None = None) -> None:
        """*also*: what else rests with the model (the speaker models let go)."""
        self.model = model
        self.also = also
        self.emit = emit
        self.after_seconds = after_seconds  # None: never
        self.clock = clock
        self._last_work = clock()

    def busy(self) -> None:
        self._last_work = self.clock()

    def idle(self) -> None:
        """Nothing is running: rest if that has lasted long enough."""
        if (self.after_seconds is None or not self.model.can_rest()
                or self.clock() - self._last_work < self.after_seconds):
            return
        started = self.clock()
        try:
            self.model.rest()
        except Exception:  # a driver that stopped answering: stay as we are, try no more
            logger.exception("The model could not rest")
            self.after_seconds = None
            return
        if self.also is not None:
            self.also()
        self.emit(ModelResting(True, round(self.clock() - started, 3)))

    def wake(self) -> None:
        """Before work: the model back on its device (at once when it is not resting)."""
        self.busy()
        if not self.model.resting:
            return
        notice = threading.Timer(WAKING_NOTICE_SECONDS, self.emit, (WakingUp(),))
        notice.daemon = True
        started = self.clock()
        notice.start()
        try:
            self.model.wake()
        finally:
            notice.cancel()
            self.busy()
        self.emit(ModelResting(False, round(self.clock() - started, 3)))
