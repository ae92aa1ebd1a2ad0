"""Writers for test media in many formats, through PyAV (FFmpeg) and soundfile."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from parakeet_desktop.engine.audio import resample

_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def encode(samples: np.ndarray, rate: int, path: Path, codec: str, *, container: str | None = None,
           channels: int = 1, video: bool = False, audio: bool = True, source_rate: int = 16000) -> Path:
    """Encode mono *samples* (at *source_rate*) to *path* with an FFmpeg audio *codec*.

    With *video*, a small H.264 (VP8 in WebM) picture track runs beside the audio; without *audio*, the file has
    the picture track alone.
    """
    data = resample(samples, source_rate, rate)
    planar = np.repeat(data[None, :], channels, axis=0).astype(np.float32)
    with av.open(str(path), "w", format=container) as out:
        picture = None
        if video:
            picture = out.add_stream("libvpx" if container == "webm" else "libx264", rate=25)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(codec, rate=rate, layout=_LAYOUTS[channels]) if audio else None
        seconds = len(data) / rate
        if picture is not None:
            for n in range(max(1, int(seconds * 25))):
                image = np.full((48, 64, 3), (n * 5) % 255, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = n
                frame.time_base = Fraction(1, 25)
                for packet in picture.encode(frame):
                    out.mux(packet)
            for packet in picture.encode(None):
                out.mux(packet)
        if sound is not None:
            step = 1024
            for first in range(0, planar.shape[1], step):
                block = np.ascontiguousarray(planar[:, first : first + step])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=_LAYOUTS[channels])
                frame.sample_rate = rate
                frame.pts = first
                frame.time_base = Fraction(1, rate)
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path
