"""The engine's microphone watched: opened (or the person told why not), a fallback device told
as a notice, a device that vanishes or stalls reported once and retried until it is back, with
hands-free dictation resumed then; a file played as a microphone that ends ends the input."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..audio import DeviceChange, DeviceEvent, Microphone, MicrophoneError
from .dictation import DictationSession
from .events import ErrorEvent, Event, MicrophoneState, Notice
from .modes import Mode, SessionState


class MicrophoneWatch:
    def __init__(self, microphone: Microphone, emit: Callable[[Event], None],
                 session: Callable[[], DictationSession], input_ended: threading.Event) -> None:
        """*session*: the dictation session now (a new one after new settings)."""
        self.microphone = microphone
        self.emit = emit
        self._session = session
        self.input_ended = input_ended
        self.resume_hands_free = False  # hands-free dictation was on when the device went

    def switch(self, device_name: str | None) -> None:
        """Another device chosen (or the lost one asked for again): closed and opened anew."""
        if device_name != self.microphone.device_name or self.microphone.lost:
            self.microphone.close()
            self.microphone.device_name = device_name
            self.open()

    def open(self) -> None:
        """Open the chosen device (or say why not)."""
        try:
            events = self.microphone.open()
        except MicrophoneError as exc:
            self.microphone.lost = True
            self.emit(ErrorEvent(str(exc)))
            self.emit(MicrophoneState(False, str(exc)))
            return
        self._tell(events)

    def _tell(self, events: list[DeviceEvent]) -> None:
        """A microphone opened: which one goes in its state; a fallback is a notice of its own."""
        for event in events:
            if event.kind is DeviceChange.FALLBACK:
                self.emit(Notice(event.message))
        self.emit(MicrophoneState(True, events[-1].message))

    def check(self, late: float = 0.0) -> None:
        """A lost device retried; a running one checked for a stall (*late*: how late the check is)."""
        if self.microphone.lost:
            events = self.microphone.retry()
            if events:
                self._tell(events)
            if events and self.resume_hands_free:
                self.resume_hands_free = False
                self._session().start(Mode.HANDS_FREE)
        else:
            self.device_event(self.microphone.check_stalled(late))

    def device_event(self, event: DeviceEvent | None) -> None:
        if event is None:
            return
        if event.kind is DeviceChange.ENDED:
            self._session().stop()
            self.emit(Notice(event.message))
            self.input_ended.set()
        else:
            self.resume_hands_free = (self._session().state is SessionState.LISTENING
                                       and self._session().mode is Mode.HANDS_FREE)
            self._session().device_lost(event.message)
            self.emit(MicrophoneState(False, event.message))
