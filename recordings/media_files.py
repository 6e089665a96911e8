"""One file per recorded track: encoded frames in, a WebM file out, with no codec work.

The recorder's peer hands over each depacketised frame as the sender encoded it
(VP8 video, Opus audio) with its RTP timestamp, already unwrapped and starting at
zero. :class:`TrackFile` muxes them as packets into WebM (Matroska), which ffmpeg,
PyAV and browsers play. Nothing is decoded or encoded, so a stream costs little
more than the write.

* A video file starts on a keyframe: frames before the first one are dropped and
  ``wants_keyframe`` tells the peer to ask the sender for one (a PLI).
* The muxer closes a cluster at least every second, so a process killed mid-file
  leaves a file that plays up to about its last second.
* :meth:`TrackFile.close` writes the index, then hashes the finished file; it can
  be called twice.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

VIDEO_CLOCK = 90_000  # RTP clock of every video codec
OPUS_CLOCK = 48_000  # RTP clock of Opus, whatever the sampling rate the sender used
CONTAINER = "webm"
# A cluster closes at least every second and is written out at once (flush_packets): what a
# killed process can lose of a file.
MUX_OPTIONS = {"cluster_time_limit": "1000", "cluster_size_limit": "1048576", "flush_packets": "1"}
CODECS = {"vp8": ("libvpx", VIDEO_CLOCK), "opus": ("libopus", OPUS_CLOCK)}


class MediaFileError(ValueError):
    """A frame or codec this writer cannot store."""


def vp8_keyframe_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a VP8 keyframe (RFC 6386 §9.1), or None if ``data`` is not one."""
    if len(data) < 10 or data[0] & 1:  # bit 0 of the frame tag is 0 on keyframes
        return None
    if data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    if not width or not height:
        return None
    return width, height


def sha256_of(path: Path) -> tuple[int, str]:
    """Size in bytes and SHA-256 of a file (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def probe(path: Path) -> tuple[int, float]:
    """Packets and length in seconds of what a (possibly unfinished) file holds."""
    packets = 0
    first: float | None = None
    last = 0.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams[0]
            tb = stream.time_base or Fraction(1, 1000)
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                at = float(packet.pts * tb)
                first = at if first is None else min(first, at)
                last = max(last, at + float((packet.duration or 0) * tb))
                packets += 1
    except (av.FFmpegError, IndexError, OSError):
        pass  # a file cut off before its first cluster: nothing readable
    return packets, (last - first) if first is not None else 0.0


@dataclass
class Finished:
    """What a closed file holds, for its row."""

    frames: int
    first_at: float | None  # wall-clock time of the first and last frame written
    last_at: float | None
    duration_s: float
    bytes: int
    sha256: str


class TrackFile:
    """One track's file. Not thread-safe; used from one task."""

    def __init__(self, path: Path, codec: str) -> None:
        if codec not in CODECS:
            raise MediaFileError(f"cannot store {codec!r} without re-encoding (VP8 and Opus only)")
        self.path = path
        self.codec = codec
        self.clock = CODECS[codec][1]
        self.frames = 0
        self.first_ts: int | None = None
        self.last_ts = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.closed = False
        self._container: Any = None
        self._stream: Any = None
        self._finished: Finished | None = None

    @property
    def wants_keyframe(self) -> bool:
        """True until a video file has its first (key)frame."""
        return self.codec == "vp8" and self._container is None and not self.closed

    def _open(self, width: int = 0, height: int = 0) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(self.path), "w", format=CONTAINER, options=MUX_OPTIONS)
        name = CODECS[self.codec][0]
        stream: Any
        if self.codec == "vp8":
            stream = container.add_stream(name, rate=30)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
        else:
            # Opening the encoder is what fills the stream's OpusHead; it never encodes here.
            stream = container.add_stream(name, rate=OPUS_CLOCK)
            stream.layout = "stereo"
        stream.time_base = Fraction(1, 1000)
        self._container, self._stream = container, stream

    def add(self, data: bytes, timestamp: int, at: float) -> bool:
        """Write one encoded frame (``timestamp`` in the codec's RTP clock, ``at`` its wall-clock time).
        False if it was not written (no keyframe yet, out of order, or closed)."""
        if self.closed or not data:
            return False
        if self._container is None:
            if self.codec == "vp8":
                size = vp8_keyframe_size(data)
                if size is None:
                    return False
                self._open(*size)
            else:
                self._open()
        if self.first_ts is None:
            self.first_ts, self.first_at = timestamp, at
        elif timestamp < self.last_ts:
            return False  # the jitter buffer hands frames over in order; a late one is dropped
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.time_base = Fraction(1, self.clock)
        packet.pts = packet.dts = timestamp - self.first_ts
        if self.codec == "vp8":
            packet.is_keyframe = vp8_keyframe_size(data) is not None
        self._container.mux(packet)
        self.last_ts, self.last_at = timestamp, at
        self.frames += 1
        return True

    def close(self) -> Finished | None:
        """Finish the file (index and sizes written), then measure and hash it. None if nothing
        was ever written (no file exists then)."""
        if self.closed:
            return self._finished
        self.closed = True
        if self._container is None:
            return None
        try:
            self._container.close()
        finally:
            self._container = None
        size, digest = sha256_of(self.path)
        span = (self.last_ts - (self.first_ts or 0)) / self.clock
        self._finished = Finished(
            frames=self.frames,
            first_at=self.first_at,
            last_at=self.last_at,
            duration_s=round(span, 3),
            bytes=size,
            sha256=digest,
        )
        return self._finished

    def abandon(self) -> None:
        """Drop the file without finishing it (its process is going away)."""
        self.closed = True
        self._container = None
        if self.frames == 0 and self.path.exists():
            os.unlink(self.path)
