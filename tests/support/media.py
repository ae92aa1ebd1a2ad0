"""Writers for test media in many formats, through PyAV (FFmpeg) and soundfile."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from parakeet_desktop.engine.audio.decode import resample

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


def flac_bomb(path: Path, hours: float, rate: int = 8000, undeclared: bool = False) -> Path:
    """Silence as FLAC: ten hours in about 900 KB, what ``sox -n -r 8000 … trim 0 36000`` makes.
    *undeclared*: its header does not say how long it is (total samples 0, as a FLAC file
    written to a pipe has)."""
    import soundfile

    block = np.zeros(rate * 600, dtype=np.int16)
    left = int(hours * 3600 * rate)
    with soundfile.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
    if undeclared:
        data = bytearray(path.read_bytes())
        # "fLaC", the STREAMINFO block's 4-byte header, then 13 bytes before the 36 bits of
        # total samples (the low 4 bits of byte 21, and bytes 22-25).
        data[21] &= 0xF0
        data[22:26] = bytes(4)
        path.write_bytes(bytes(data))
    return path


def ogg_bomb(path: Path, hours: float, rate: int = 8000) -> Path:
    """Silence as Ogg Vorbis that really decodes to *hours*: a minute encoded by libvorbis, its
    audio pages repeated with their granule positions, sequence numbers and checksums made anew
    (a Vorbis decoder takes repeated packets of silence as more silence). Encoding ten hours
    takes half a minute here (``sox -n -r 8000 -c 1 x.ogg trim 0 36000``); this, a second or two."""
    import soundfile

    minute = path.with_suffix(".minute.ogg")
    soundfile.write(minute, np.zeros(rate * 60, np.int16), rate, format="OGG", subtype="VORBIS")
    pages = _ogg_pages(minute.read_bytes())
    minute.unlink()
    header = [p for p in pages if p.granule == 0]
    audio = [p for p in pages if p.granule != 0]
    span = audio[-1].granule
    copies = max(1, round(hours * 3600 * rate / span))
    out = bytearray()
    sequence = 0
    for page in header:
        out += page.rebuilt(page.granule, sequence, page.flags)
        sequence += 1
    for copy in range(copies):
        for n, page in enumerate(audio):
            last = copy == copies - 1 and n == len(audio) - 1
            granule = page.granule + copy * span if page.granule != -1 else -1
            out += page.rebuilt(granule, sequence, (page.flags & ~0x04) | (0x04 if last else 0))
            sequence += 1
    path.write_bytes(bytes(out))
    return path


class _OggPage:
    def __init__(self, raw: bytes) -> None:
        import struct

        self.flags = raw[5]
        self.granule, self.serial, self.sequence = struct.unpack_from("<qII", raw, 6)
        self.raw = raw

    def rebuilt(self, granule: int, sequence: int, flags: int) -> bytes:
        import struct

        page = bytearray(self.raw)
        page[5] = flags
        struct.pack_into("<qII", page, 6, granule, self.serial, sequence)
        page[22:26] = b"\0\0\0\0"
        struct.pack_into("<I", page, 22, _ogg_crc(page))
        return bytes(page)


def _ogg_pages(data: bytes) -> list[_OggPage]:
    pages, at = [], 0
    while at < len(data):
        assert data[at : at + 4] == b"OggS", "not an Ogg page"
        segments = data[at + 26]
        size = 27 + segments + sum(data[at + 27 : at + 27 + segments])
        pages.append(_OggPage(data[at : at + size]))
        at += size
    return pages


_CRC_TABLE: list[int] = []


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, starting from 0."""
    if not _CRC_TABLE:
        for byte in range(256):
            crc = byte << 24
            for _ in range(8):
                crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            _CRC_TABLE.append(crc & 0xFFFFFFFF)
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc
