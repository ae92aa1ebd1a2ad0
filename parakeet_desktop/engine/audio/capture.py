"""Microphone capture: a PortAudio input stream feeding 16 kHz mono audio to the engine thread.

The PortAudio callback only copies the block into the engine's inbox (a queue) and counts what it
had to drop; mixing down and resampling happen on the engine thread. The sounddevice module is
injected, so tests and ``parakeet-desktop listen --input FILE`` play a file through
file_device.py's stand-in with the same interface, which behaves like a live device.

Devices are chosen by name, which stays the same across reboots while indices do not. A device
that vanishes (unplugged, or the sound server restarted) is reported once; :meth:`Microphone.retry`
reopens it, or the default device, when it is back.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .decode import SAMPLE_RATE, MonoResampler

logger = logging.getLogger(__name__)

BLOCK_SECONDS = 0.02
# Without a callback for this long, a running stream is taken as gone: some host APIs simply stop
# calling back when a USB microphone is pulled, without an error.
STALL_SECONDS = 2.0


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_rate: float
    is_default: bool


@dataclass(frozen=True)
class RawBlock:
    """One PortAudio block as it came, tagged with the stream it came from."""

    data: np.ndarray
    stream_id: int


@dataclass(frozen=True)
class StreamEnded:
    """The stream stopped on its own: the device went away, or a played file ended."""

    stream_id: int


class DeviceChange(enum.Enum):
    OPENED = "opened"
    FALLBACK = "fallback"  # the chosen microphone is not there: another one is used
    LOST = "lost"
    RETURNED = "returned"  # opened again after a loss
    ENDED = "ended"  # a played file came to its end


@dataclass(frozen=True)
class DeviceEvent:
    """Something the user should know about the microphone."""

    kind: DeviceChange
    message: str


def list_input_devices(sd=None) -> list[InputDevice]:
    """Input devices PortAudio knows, default first. Empty when PortAudio has none or fails."""
    sd = sd or _sounddevice()
    try:
        devices = sd.query_devices()
        default_index = _default_input_index(sd)
    except Exception as exc:  # PortAudio missing or the sound server down
        logger.warning("Cannot list audio devices: %s", exc)
        return []
    found = [
        InputDevice(i, d["name"], int(d["max_input_channels"]), float(d["default_samplerate"]),
                    i == default_index)
        for i, d in enumerate(devices) if d["max_input_channels"] > 0
    ]
    return sorted(found, key=lambda d: not d.is_default)


def _default_input_index(sd) -> int | None:
    default = sd.default.device
    index = default[0] if isinstance(default, (list, tuple)) else default
    return index if isinstance(index, int) and index >= 0 else None


def _sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise MicrophoneError(f"The audio system is not available ({exc}). On Linux install "
                              "PortAudio (Debian/Ubuntu: libportaudio2).") from exc
    return sounddevice


class MicrophoneError(Exception):
    """No microphone could be opened; the message says why."""


def choose_device(devices: list[InputDevice], wanted: str | None) -> tuple[InputDevice | None, str | None]:
    """The device called *wanted* (exact name, else the one whose name contains it), else the
    default one; with a notice when the wanted one is not there."""
    if not devices:
        return None, None
    if wanted:
        for device in devices:
            if device.name == wanted:
                return device, None
        for device in devices:
            if wanted.casefold() in device.name.casefold():
                return device, None
        fallback = devices[0]
        return fallback, f"Microphone “{wanted}” is not connected; using “{fallback.name}”."
    return devices[0], None


class Microphone:
    """An input stream whose blocks go into *inbox* as :class:`RawBlock` items.

    ``to_16k`` turns those blocks into 16 kHz mono float32 on the consumer's thread. The callback
    never blocks for a live device: when more than *max_queue_seconds* are waiting, new blocks are
    dropped and counted (``overflows``). A file played as fast as possible (``sd.paced_by_consumer``)
    waits instead until the consumer took the previous block, so nothing is lost.
    """

    def __init__(self, inbox: queue.Queue, device_name: str | None = None, *, sd=None,
                 max_queue_seconds: float = 60.0, clock=time.monotonic,
                 on_end: Callable[[], None] | None = None) -> None:
        self.inbox = inbox
        self._on_end = on_end  # called on PortAudio's thread when the stream stops by itself
        self.device_name = device_name
        self._sd = sd
        self._clock = clock
        self._stream = None
        self._stream_id = 0
        self._resampler: MonoResampler | None = None
        self._slots = threading.Semaphore(max(1, round(max_queue_seconds / BLOCK_SECONDS)))
        self._last_callback = 0.0
        self.device: InputDevice | None = None
        self.overflows = 0
        self.lost = False

    @property
    def running(self) -> bool:
        return self._stream is not None

    def open(self) -> list[DeviceEvent]:
        """Open the chosen device (or the default). Raises MicrophoneError when none can be."""
        sd = self._sd = self._sd or _sounddevice()
        device, notice = choose_device(list_input_devices(sd), self.device_name)
        if device is None:
            raise MicrophoneError("No microphone found. Connect one, or check that the sound "
                                  "system sees it.")
        rate = int(device.default_rate) or SAMPLE_RATE
        channels = max(1, min(device.channels, 2))
        self._stream_id += 1
        stream_id = self._stream_id
        paced = getattr(sd, "paced_by_consumer", False)
        if paced:
            # One block in flight: the consumer takes each block as it would from a live
            # microphone that keeps up, only without waiting for real time.
            self._slots = threading.Semaphore(1)

        def callback(indata, frames, time_info, status):
            self._last_callback = self._clock()
            if status and getattr(status, "input_overflow", False):
                self.overflows += 1
            if not self._slots.acquire(blocking=paced):
                self.overflows += 1
                return
            self.inbox.put(RawBlock(indata.copy(), stream_id))

        def finished():
            # A file replayed as fast as possible is not a key release: its audio is all meant
            # to go through streaming as if it were live.
            if stream_id == self._stream_id and self._on_end is not None and not paced:
                self._on_end()
            self.inbox.put(StreamEnded(stream_id))

        try:
            stream = sd.InputStream(device=device.index, samplerate=rate, channels=channels,
                                    dtype="float32", blocksize=round(rate * BLOCK_SECONDS),
                                    callback=callback, finished_callback=finished)
            stream.start()
        except Exception as exc:  # sounddevice.PortAudioError and host-API errors
            raise MicrophoneError(f"Cannot open the microphone “{device.name}”: {exc}") from exc
        self._stream = stream
        self._resampler = MonoResampler(rate)
        self._last_callback = self._clock()
        self.device = device
        self.lost = False
        events = [DeviceEvent(DeviceChange.FALLBACK, notice)] if notice else []
        events.append(DeviceEvent(DeviceChange.OPENED, f"Microphone: “{device.name}”."))
        return events

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._stream_id += 1  # blocks still queued from the old stream are ignored
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as exc:
                logger.debug("Closing the input stream: %s", exc)

    def to_16k(self, item: RawBlock) -> np.ndarray | None:
        """The block as 16 kHz mono, or None when it belongs to a stream closed since."""
        self._slots.release()
        if item.stream_id != self._stream_id or self._resampler is None:
            return None
        return self._resampler.feed(item.data)

    def ended(self, item: StreamEnded) -> DeviceEvent | None:
        """The stream stopped on its own: a file that ended, or a device that went away."""
        if item.stream_id != self._stream_id:
            return None
        return self._gone()

    def check_stalled(self, late: float = 0.0) -> DeviceEvent | None:
        """Called now and then by the consumer: a running stream that stopped calling back.

        An alarm must mean the device stopped, not that the machine was too busy to run the
        audio callback (a model loading beside it on a starved CPU). So: when the consumer itself
        woke *late* seconds after it asked to, the callbacks' silence proves nothing and the
        wait starts again; and a stream that still says it is active gets three times as long.
        """
        if self._stream is None:
            return None
        now = self._clock()
        if late > STALL_SECONDS / 4:
            self._last_callback = now
            return None
        silent = now - self._last_callback
        if silent <= STALL_SECONDS:
            return None
        if getattr(self._stream, "active", False) and silent <= 3 * STALL_SECONDS:
            return None
        return self._gone()

    def _gone(self) -> DeviceEvent:
        name = self.device.name if self.device else "The microphone"
        if getattr(self._sd, "plays_file", False) and not self._sd.missing:
            self.close()
            return DeviceEvent(DeviceChange.ENDED, f"{name} ended.")
        self.close()
        self.lost = True
        return DeviceEvent(DeviceChange.LOST, f"The microphone “{name}” stopped working or was unplugged. "
                                   "Trying again…")

    def retry(self) -> list[DeviceEvent]:
        """After a loss: reopen when a device is back. Returns its events, or [] when not yet."""
        try:
            events = self.open()
        except MicrophoneError:
            self.lost = True
            return []
        return [DeviceEvent(DeviceChange.RETURNED, e.message) if e.kind is DeviceChange.OPENED else e
                for e in events]


class PreRoll:
    """The last few seconds heard while not listening, so a word that starts as the hotkey goes
    down is kept."""

    def __init__(self, seconds: float) -> None:
        self._limit = round(seconds * SAMPLE_RATE)
        self._blocks: deque[np.ndarray] = deque()
        self._length = 0

    def append(self, samples: np.ndarray) -> None:
        if self._limit <= 0:
            return
        self._blocks.append(samples)
        self._length += len(samples)
        while self._blocks and self._length - len(self._blocks[0]) >= self._limit:
            self._length -= len(self._blocks.popleft())

    def take(self) -> np.ndarray:
        """The buffered audio (at most *seconds*), oldest first; the buffer is emptied."""
        if not self._blocks:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(list(self._blocks))[-self._limit :]
        self._blocks.clear()
        self._length = 0
        return audio
