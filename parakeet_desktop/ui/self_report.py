"""What the app says of itself to ``parakeet-desktop status`` (and so to ``doctor``): how long it
took from launch to its window and to a ready model, the live caption, and the engine's last
notices with when they came. The app records; the control socket reads."""

from __future__ import annotations

import datetime
import os
import time
from collections import deque

NOTICES_KEPT = 10  # the engine notices ``status`` reports


class SelfReport:
    def __init__(self, started_at: float | None = None) -> None:
        """*started_at*: the launch (time.monotonic()), when the caller measured it."""
        self.started_at = started_at if started_at is not None else time.monotonic()
        self.shown_at: float | None = None
        self.ready_at: float | None = None
        self.caption = ""  # the live caption of the utterance in progress
        self.notices: deque[tuple[datetime.datetime, str]] = deque(maxlen=NOTICES_KEPT)

    def shown(self) -> None:
        self.shown_at = time.monotonic()

    def ready(self) -> None:
        self.ready_at = time.monotonic()

    def notice(self, message: str) -> None:
        self.notices.append((datetime.datetime.now().astimezone(), message))

    def report(self, **state) -> dict:
        """The ``status`` document: *state* (what the app is doing) and what was recorded."""
        def since_start(t: float | None) -> float | None:
            return None if t is None else round(t - self.started_at, 3)

        return {**state, "shown_after": since_start(self.shown_at), "ready_after": since_start(self.ready_at),
                "caption": self.caption, "pid": os.getpid(),
                "notices": [{"at": at.isoformat(timespec="seconds"), "message": message}
                            for at, message in self.notices]}
