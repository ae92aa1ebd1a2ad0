"""The hotkey's press and release made dictation commands, on the GUI thread: in push-to-talk a
hold dictates and a tap goes hands-free (desktop/hotkey.py's Gesture); in hands-free mode each
press starts or stops."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject

from ..desktop.hotkey import Gesture, GestureAction
from ..engine.live import Mode
from .engine_thread import EngineWorker


class DictationKeys(QObject):
    """A QObject of the GUI thread, so that the hotkey's signals (from pynput's or a portal's
    thread) are queued to it."""

    def __init__(self, worker: Callable[[], EngineWorker], mode: Callable[[], Mode],
                 told: Callable[[bool], bool], parent: QObject | None = None) -> None:
        """*worker*: the engine's worker now; *told*: shows why nothing happens when it refused."""
        super().__init__(parent)
        self._worker = worker
        self._mode = mode
        self._told = told
        self.gesture = Gesture()

    def pressed(self) -> None:
        if self._mode() is Mode.HANDS_FREE:
            self._told(self._worker().toggle(Mode.HANDS_FREE))
        elif self.gesture.press(time.monotonic()) is GestureAction.START_PUSH_TO_TALK:
            self._told(self._worker().start(Mode.PUSH_TO_TALK))

    def released(self) -> None:
        if self._mode() is Mode.HANDS_FREE:
            return
        action = self.gesture.release(time.monotonic())
        if action is GestureAction.STOP:
            self._told(self._worker().stop())
        elif action is GestureAction.KEEP_HANDS_FREE:
            self._told(self._worker().continue_hands_free())
