"""A recorder process: the server's peer for the media each side of a recorded case sends it.

Run as ``python -m recordings.media_worker ROOT`` by :mod:`recordings.media_pool`, never inside
the signaling process. It reads one JSON command per line on stdin and writes one JSON line per
reply or event on stdout (logs go to stderr):

* ``{"op": "offer", "id", "case_id", "side", "description", "screens"}`` answers a side's offer.
  A new offer from the same peer (same DTLS fingerprint) renegotiates its connection, e.g. when a
  screen share starts or stops; an offer from a new peer (the page rebuilt its connection after
  losing it) closes the old connection and starts new files (a new segment).
* ``{"op": "stop", "id", "case_id"}`` closes the case's connections and files.
* ``{"op": "shutdown"}`` closes everything cleanly and exits.

Events: ``opened`` (a file was started: its row) and ``closed`` (a file was finished: length,
frames, size, SHA-256).

Nothing is decoded. aiortc's receiver hands every depacketised frame to a decoder it gets from
the ``get_decoder`` name of ``aiortc.rtcrtpreceiver``, in its own thread; this process puts there
a decoder that returns the encoded frame unchanged, so each track yields the sender's VP8 or Opus
frames with their unwrapped RTP timestamps, and :class:`recordings.media_files.TrackFile` muxes
them. (aiortc's ``MediaRecorder`` decodes and re-encodes: about 0.4 of a core per 640x480
stream.) The thread that would run the decoder (``decoder_worker`` of the same module) is replaced
too, by one that hands each frame to the track with a single call on the loop (about a tenth less
CPU per stream than scheduling a coroutine per frame; docs/benchmarks.md). aiortc offers no public
hook for either; only this process is patched, and it does nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiortc.rtcrtpreceiver
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.privacy import mask_logs

from .media_files import CONTAINER, MediaFileError, TrackFile

log = logging.getLogger("rvw.recorder")

KEYFRAME_EVERY_S = 1.0  # how often to ask for a keyframe while a video file waits for one
STORED_CODECS = {"video": "VP8", "audio": "opus"}  # what the answer puts first; the only ones stored


class EncodedFrame:
    """A frame as the sender encoded it (what the track yields in this process)."""

    __slots__ = ("codec", "data", "timestamp")

    def __init__(self, codec: str, data: bytes, timestamp: int) -> None:
        self.codec = codec
        self.data = data
        self.timestamp = timestamp


class PassThrough:
    """Stands in for aiortc's decoder: hands the encoded frame on."""

    def __init__(self, codec_name: str) -> None:
        self.codec = codec_name.lower()

    def decode(self, encoded_frame: Any) -> list[EncodedFrame]:
        return [EncodedFrame(self.codec, bytes(encoded_frame.data), int(encoded_frame.timestamp))]


def hand_over(loop: asyncio.AbstractEventLoop, input_q: Any, output_q: asyncio.Queue[Any], decode_error: Any) -> None:
    """Stands in for aiortc's decoder thread: each encoded frame goes to the track with one call on
    the loop (aiortc's own schedules a coroutine per frame, to wrap a decoder this process does not run)."""
    while True:
        task = input_q.get()
        if task is None:
            loop.call_soon_threadsafe(output_q.put_nowait, None)  # the track has ended
            return
        codec, encoded = task
        frame = EncodedFrame(codec.name.lower(), bytes(encoded.data), int(encoded.timestamp))
        loop.call_soon_threadsafe(output_q.put_nowait, frame)


def install_pass_through() -> None:
    def pass_through(codec: Any) -> Any:
        return PassThrough(codec.name)

    aiortc.rtcrtpreceiver.get_decoder = pass_through
    if os.environ.get("RVW_RECORDER_HANDOVER", "1") == "1":
        aiortc.rtcrtpreceiver.decoder_worker = hand_over


def prefer_stored_codecs(sdp: str) -> str:
    """Put VP8 first in each video section and Opus first in each audio section of our answer, so
    the browser sends what can be stored without re-encoding (it sends the answer's first codec)."""
    sections = re.split(r"(?m)^(?=m=)", sdp)
    out = [sections[0]]
    for section in sections[1:]:
        head, _, rest = section.partition("\r\n")
        parts = head.split(" ")
        kind = parts[0][2:]
        wanted = STORED_CODECS.get(kind)
        if wanted and len(parts) > 3:
            chosen = set(re.findall(rf"(?mi)^a=rtpmap:(\d+) {wanted}/", rest))
            formats = parts[3:]
            parts = parts[:3] + [f for f in formats if f in chosen] + [f for f in formats if f not in chosen]
            head = " ".join(parts)
        out.append(head + "\r\n" + rest)
    return "".join(out)


def fingerprint(sdp: str) -> str:
    found = re.search(r"(?m)^a=fingerprint:(.*)$", sdp)
    return found.group(1).strip() if found else ""


class Output:
    """Lines to the pool, one JSON object each."""

    def __init__(self) -> None:
        self.stream = sys.stdout

    def send(self, message: dict[str, Any]) -> None:
        self.stream.write(json.dumps(message, ensure_ascii=False) + "\n")
        self.stream.flush()


class TrackReader:
    """One received track: its frames go to successive files (a new one when the track comes back
    after a renegotiation stopped it)."""

    def __init__(self, session: Session, receiver: RTCRtpReceiver, track: MediaStreamTrack, mid: str) -> None:
        self.session = session
        self.receiver = receiver
        self.track = track
        self.mid = mid
        self.file: TrackFile | None = None
        self.row: dict[str, Any] | None = None
        self.refused_codec = ""
        self.paused = False
        self.last_pli = 0.0
        self.task = asyncio.get_running_loop().create_task(self._run())

    @property
    def kind(self) -> str:
        if self.track.kind == "audio":
            return "audio"
        return "screen" if self.session.is_screen(self.mid) else "video"

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if isinstance(frame, EncodedFrame) and not self.paused:
                    await self._write(frame)
        except MediaStreamError:
            pass
        finally:
            await self.finish()

    async def _write(self, frame: EncodedFrame) -> None:
        if self.file is None:
            if frame.codec == self.refused_codec:
                return
            recording_id = "M" + secrets.token_hex(8).upper()
            session = self.session
            name = f"{session.side}-{self.kind}-{session.segment}-{recording_id}.{CONTAINER}"
            relative = Path("media") / session.case_id / name
            try:
                self.file = TrackFile(session.worker.root / relative, frame.codec)
            except MediaFileError as exc:
                self.refused_codec = frame.codec
                log.warning("case %s %s: %s", session.case_id, session.side, exc)
                return
            self.row = {
                "recording_id": recording_id,
                "case_id": session.case_id,
                "side": session.side,
                "kind": self.kind,
                "codec": frame.codec,
                "container": CONTAINER,
                "path": str(relative),
                "started_at": time.time(),
            }
        file = self.file
        before = file.frames
        written = file.add(frame.data, frame.timestamp, time.time())
        if written and before == 0 and self.row is not None:
            self.row["started_at"] = file.first_at
            self.session.worker.out.send({"ev": "opened", "file": self.row})
        if not written and file.wants_keyframe:
            await self._ask_keyframe()

    async def _ask_keyframe(self) -> None:
        now = time.monotonic()
        if now - self.last_pli < KEYFRAME_EVERY_S:
            return
        self.last_pli = now
        for source in self.receiver.getSynchronizationSources():
            # aiortc has no public call for a picture loss indication; its receiver sends one itself
            # after a loss, and this asks for the first keyframe of a file the same way.
            await self.receiver._send_rtcp_pli(source.source)

    async def finish(self) -> None:
        """Close the current file (the track paused or ended, or the connection is going). The
        closing runs as its own task, so cancelling the caller cannot lose the file's report."""
        file, row = self.file, self.row
        self.file, self.row = None, None
        if file is None or row is None:
            return
        worker = self.session.worker
        task = asyncio.get_running_loop().create_task(worker.close_file(file, row))
        worker.closing.add(task)
        task.add_done_callback(worker.closing.discard)
        await asyncio.shield(task)


class Session:
    """One side of one case: one peer connection and a reader per received track."""

    def __init__(self, worker: Worker, case_id: str, side: str, segment: int) -> None:
        self.worker = worker
        self.case_id = case_id
        self.side = side
        self.segment = segment
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # the recorder is reached directly
        self.readers: dict[str, TrackReader] = {}
        self.screens: set[str] = set()
        self.peer_fingerprint = ""
        self.closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def is_screen(self, mid: str) -> bool:
        if self.screens:
            return mid in self.screens
        videos = [t.mid for t in self.pc.getTransceivers() if t.kind == "video" and t.mid is not None]
        return bool(videos) and mid != videos[0]

    def _on_track(self, track: MediaStreamTrack) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track and transceiver.mid is not None:
                self.readers[transceiver.mid] = TrackReader(self, transceiver.receiver, track, transceiver.mid)

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    async def answer(self, description: dict[str, Any], screens: list[str]) -> dict[str, Any]:
        self.screens = set(screens)
        self.peer_fingerprint = fingerprint(description["sdp"])
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=description["sdp"], type=description["type"]))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        # A track the other side stopped sending (a screen share that ended) closes its file.
        for transceiver in self.pc.getTransceivers():
            reader = self.readers.get(transceiver.mid or "")
            if reader is None:
                continue
            receiving = "recv" in (transceiver.currentDirection or "")
            if not receiving and not reader.paused:
                reader.paused = True
                await reader.finish()
            elif receiving:
                reader.paused = False
        local = self.pc.localDescription
        return {"type": local.type, "sdp": prefer_stored_codecs(local.sdp)}

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.pc.close()
        readers = list(self.readers.values())
        for reader in readers:
            reader.task.cancel()
        await asyncio.gather(*(r.task for r in readers), return_exceptions=True)
        for reader in readers:
            await reader.finish()


class Worker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = Output()
        self.sessions: dict[tuple[str, str], Session] = {}
        self.segments: dict[tuple[str, str], int] = {}
        self.closing: set[asyncio.Task[None]] = set()

    async def close_file(self, file: TrackFile, row: dict[str, Any]) -> None:
        """Finish a file off the loop and report it (a file that got no frame leaves no row)."""
        done = await asyncio.to_thread(file.close)
        if done is None or done.frames == 0:
            return
        self.out.send(
            {
                "ev": "closed",
                "recording_id": row["recording_id"],
                "state": "complete",
                "facts": {
                    "ended_at": done.last_at,
                    "duration_s": done.duration_s,
                    "frames": done.frames,
                    "bytes": done.bytes,
                    "sha256": done.sha256,
                },
            }
        )

    async def handle(self, command: dict[str, Any]) -> dict[str, Any] | None:
        op = command.get("op")
        if op == "offer":
            return {"description": await self.offer(command)}
        if op == "stop":
            await self.stop(str(command["case_id"]))
            return {}
        raise ValueError(f"unknown op {op!r}")

    async def offer(self, command: dict[str, Any]) -> dict[str, Any]:
        key = (str(command["case_id"]), str(command["side"]))
        description = command["description"]
        session = self.sessions.get(key)
        if session is not None and (session.closed or session.peer_fingerprint != fingerprint(description["sdp"])):
            await session.close()
            session = None
        if session is None:
            segment = self.segments.get(key, 0) + 1
            self.segments[key] = segment
            session = Session(self, key[0], key[1], segment)
            self.sessions[key] = session
        return await session.answer(description, list(command.get("screens") or []))

    async def stop(self, case_id: str) -> None:
        for key in [k for k in self.sessions if k[0] == case_id]:
            await self.sessions.pop(key).close()
            self.segments.pop(key, None)

    async def shutdown(self) -> None:
        sessions = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        while self.closing:
            await asyncio.gather(*list(self.closing), return_exceptions=True)


async def serve(root: Path) -> None:
    install_pass_through()
    worker = Worker(root)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    pending: set[asyncio.Task[None]] = set()

    async def run(command: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": command.get("id")}
        try:
            body = await worker.handle(command)
            reply.update(ok=True, **(body or {}))
        except Exception as exc:  # a bad offer is answered, never fatal
            log.warning("recorder command %s failed: %s", command.get("op"), exc)
            reply.update(ok=False, error=str(exc) or type(exc).__name__)
        worker.out.send(reply)

    async def read_commands() -> None:
        while line := await reader.readline():
            try:
                command = json.loads(line)
            except ValueError:
                log.warning("recorder: a line that is not JSON was skipped")
                continue
            if command.get("op") == "shutdown":
                break
            task = loop.create_task(run(command))
            pending.add(task)
            task.add_done_callback(pending.discard)
        stop.set()  # shutdown, or the pool went away (stdin closed)

    reading = loop.create_task(read_commands())
    await stop.wait()
    reading.cancel()
    for task in list(pending):
        task.cancel()
    await asyncio.gather(reading, *pending, return_exceptions=True)
    await worker.shutdown()
    worker.out.send({"ev": "bye"})


def yield_to_signaling(policy: str, nice: int) -> None:
    """Put this process below the signaling process in the scheduler's eyes, before any thread is started (the
    threads aiortc and the loop start later inherit it): a late signal is felt at once, while a recorder's jitter
    buffer absorbs being a few milliseconds late (docs/benchmarks.md, "Recording").

    ``idle`` (Linux's SCHED_IDLE): whenever a normal process wakes up wanting a core, a recorder running on it
    gives it up at once; niceness alone only shares a core in proportion, so the signaling process still waits
    for a recorder's slice to end. The recorders then run on whatever CPU is left over: enough while the machine is
    not saturated, and a saturated machine loses frames (the files show it) rather than signals. ``normal``: the
    ordinary policy at niceness ``nice``."""
    if nice > 0:
        os.nice(nice)
    if policy == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # a container may refuse it: the niceness stays
            log.warning("could not run the recorder at SCHED_IDLE (%s); it runs at niceness %d", exc, nice)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    mask_logs()  # identity and phone numbers masked in this process's log lines too
    root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RVW_RECORDINGS_DIR", "var/recordings"))
    yield_to_signaling(
        os.environ.get("RVW_RECORDER_SCHED", "normal"), int(os.environ.get("RVW_RECORDER_NICE", "0") or 0)
    )
    # uvloop when installed: about a fifth less CPU per recorded stream than asyncio's own loop here.
    loop_factory = None
    if os.environ.get("RVW_RECORDER_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(root))


if __name__ == "__main__":
    main()
