"""An audio file as a microphone: ``parakeet-desktop listen --input FILE`` plays a recording
through the same path a live device takes, and the tests make it fail as real devices do."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .decode import SAMPLE_RATE, load_audio


class FileSoundDevice:
    """A stand-in for the sounddevice module with one input device: an audio file played as if
    it were spoken into a microphone, in real time or as fast as the consumer takes it.

    ``fail_after`` (seconds) makes the device vanish mid-stream, as an unplugged USB microphone
    does; ``missing`` makes opening fail, as with no microphone at all; ``busy`` lists the device
    but refuses to open it, as one held by another program (PortAudio's "Device unavailable");
    ``pause`` ((at, seconds)) stops the callbacks for a while with the stream still active, as a
    starved machine or a device that hangs does.
    """

    plays_file = True

    class PortAudioError(Exception):
        pass

    class _Default:
        device = (0, None)

    default = _Default()

    def __init__(self, path: str | Path | None = None, *, samples: np.ndarray | None = None,
                 rate: int = SAMPLE_RATE, realtime: bool = True, fail_after: float | None = None,
                 missing: bool = False, busy: bool = False, pause: tuple[float, float] | None = None,
                 name: str | None = None) -> None:
        if samples is None:
            if path is None:
                raise ValueError("a file stand-in needs a path or samples")
            decoded = load_audio(path)
            samples, rate = decoded.samples, SAMPLE_RATE
        self.samples = np.asarray(samples, dtype=np.float32)
        self.rate = rate
        self.realtime = realtime
        self.paced_by_consumer = not realtime
        self.fail_after = fail_after
        self.missing = missing
        self.busy = busy
        self.pause = pause
        self.played = 0  # samples delivered so far, over every stream
        self.name = name or (f"file: {Path(path).name}" if path else "file")
        self.opened = 0

    def query_devices(self):
        if self.missing:
            return []
        return [{"name": self.name, "max_input_channels": 1, "default_samplerate": float(self.rate)}]

    def InputStream(self, **kwargs):  # noqa: N802 - the sounddevice name
        if self.missing or self.busy:
            raise self.PortAudioError("Device unavailable [PaErrorCode -9985]")
        self.opened += 1
        return _FileStream(self, kwargs)


class _FileStream:
    def __init__(self, device: FileSoundDevice, settings: dict) -> None:
        self._device = device
        self._block = settings["blocksize"]
        self._callback = settings["callback"]
        self._finished = settings["finished_callback"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, name="file-input", daemon=True)
        self.active = False

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _play(self) -> None:
        device = self._device
        samples = device.samples
        limit = len(samples)
        if device.fail_after is not None:
            limit = min(limit, round(device.fail_after * device.rate))
        started = time.monotonic()
        for start in range(0, limit, self._block):
            if self._stop.is_set():
                return
            if device.realtime:
                delay = started + start / device.rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
            if device.pause and start <= device.pause[0] * device.rate < start + self._block:
                if self._stop.wait(device.pause[1]):
                    return
                started += device.pause[1]
            block = samples[start : min(start + self._block, limit)]
            self._callback(block[:, None], len(block), None, None)
            device.played += len(block)
        if device.fail_after is not None:
            device.missing = True
        self.active = False
        self._finished()

    def abort(self) -> None:
        self._stop.set()
        self.active = False

    def close(self) -> None:
        self._stop.set()
