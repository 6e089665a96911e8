"""Recording benchmark (issue 8): what our recorder costs per stream, and what recording does to signaling.

Two measurements, each against its reference in the same run (see docs/benchmarks.md, "Recording"):

1. **CPU per recorded stream.** One sender process plays a 640x480 30 fps VP8 video with Opus audio to one
   receiver process at a time, and the receiver's CPU time (``/proc/<pid>/stat``) is read over a fixed window.
   Receivers, in turn, round after round: ``ours`` (``python -m recordings.media_worker``, offered to through
   its JSON-lines protocol on stdin/stdout, as the server's pool does), ``mp4`` and ``webm`` (an aiortc peer
   recording with ``aiortc.contrib.media.MediaRecorder``), and two baselines that store nothing: ``receive``
   (an aiortc peer with our recorder's pass-through decoder, consuming the encoded frames) and, on request,
   ``decode`` (an aiortc peer decoding into a ``MediaBlackhole``). Every file is then decoded with PyAV and its
   frames counted against what was sent.
2. **Signaling latency while recording.** A real server (``rvw serve``, RVW_RECORDER_WORKERS=2) relays paced
   ``signal`` events between ``--procs`` x ``--pairs`` citizen-clerk pairs (bench.loadgen, one event in flight
   per client) without pause, while ``--streams`` sides (``--streams``/2 cases, both sides, the citizen having
   consented) stay connected to the server's recorder through ``record_offer``. Their media is paused and
   resumed in blocks of ``--block`` seconds (nothing recorded, recording, nothing recorded, ...), so both
   conditions share the machine's noise; each signal's latency is counted in the block it was sent in. The
   processes that stand for remote machines do not run at the server's priority: the media senders at nice 10
   (``--nice``), so that they take as little from the server as browsers elsewhere would, and the load generators
   at nice -5 (``--load-nice``, as root), so that the time they take to notice a signal is not itself delayed by
   the media; the server and its recorder processes run as deployed, at nice 0.

The senders do not encode while they play: a 10 s clip (``testsrc2`` with temporal noise, libvpx in real time
at 1 Mbit/s CBR with a keyframe every 2 s; a 440 Hz tone in 20 ms Opus frames) is encoded once at the start,
and every sender replays its packets, paced on the wall clock (aiortc's sender packetises an ``av.Packet``
without encoding). So every receiver gets the same bytes, and eight senders fit beside the server on two cores.

    .venv/bin/python -m bench.recording --out bench/results/recording.json
    .venv/bin/python -m bench.recording --quick
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from fractions import Fraction
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaRecorder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recordings.media_worker import install_pass_through

from .loadgen import GenConfig, Generator, generator_main
from .servers import (
    PASSWORD,
    ROOT,
    ServerProcess,
    clerk_name,
    cpu_seconds,
    create_clerks,
    login_all,
    machine_busy,
    ours_env,
    rvw_command,
)
from .signaling import fmt, log, median, percentile, summarise
from .signaling import versions as signaling_versions

RECEIVERS = {
    "ours": "ours: recordings.media_worker (no decoding)",
    "mp4": "aiortc MediaRecorder → MP4 (H.264 + AAC)",
    "webm": "aiortc MediaRecorder → WebM (VP8 + Opus)",
    "decode": "baseline, not recording: aiortc receiving and decoding, nothing stored (MediaBlackhole)",
    "receive": "baseline, not recording: aiortc receiving with our pass-through decoder, nothing stored",
}
CPU_AIM = 0.1  # ours at most this fraction of MediaRecorder's CPU
LATENCY_AIM = 1.2  # p99 while recording at most this many times p99 without
WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_CLOCK, AUDIO_CLOCK = 90_000, 48_000
AUDIO_FRAME = 960  # 20 ms at 48 kHz
STEP_TIMEOUT_S = 30.0
AUDITOR = "bench-auditor"


# ---- the clip every sender plays ------------------------------------------------------------------


def make_clip(path: Path, seconds: int, kbps: int, keyframe_every: int) -> dict[str, Any]:
    """Encode ``seconds`` of a moving 640x480 test picture (VP8) and a tone (Opus) into a WebM file."""
    frames = seconds * FPS
    source = av.open(f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},noise=alls=8:allf=t+u", format="lavfi")
    out = av.open(str(path), "w", format="webm")
    bits = str(kbps * 1000)
    # Real-time CBR like aiortc's own VP8 encoder (aiortc.codecs.vpx), but with a keyframe every
    # ``keyframe_every`` frames: a replayed clip cannot answer a keyframe request.
    video = out.add_stream(
        "libvpx",
        rate=FPS,
        options={
            "deadline": "realtime",
            "cpu-used": "-6",
            "lag-in-frames": "0",
            "minrate": bits,
            "maxrate": bits,
            "bufsize": bits,
            "static-thresh": "1",
            "undershoot-pct": "100",
            "overshoot-pct": "15",
        },
    )
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.bit_rate = kbps * 1000
    video.gop_size = keyframe_every
    audio = out.add_stream("libopus", rate=AUDIO_CLOCK)
    audio.layout = "stereo"
    sizes: list[int] = []
    keyframes = 0
    for i, frame in enumerate(source.decode(video=0)):
        if i >= frames:
            break
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        frame.pict_type = av.video.frame.PictureType.NONE  # the source marks every frame I: let the encoder choose
        for packet in video.encode(frame):
            sizes.append(packet.size)
            keyframes += packet.is_keyframe
            out.mux(packet)
    for packet in video.encode(None):
        sizes.append(packet.size)
        out.mux(packet)
    source.close()
    for i in range(seconds * AUDIO_CLOCK // AUDIO_FRAME):
        samples = array.array("h")
        for n in range(AUDIO_FRAME):
            value = int(8000 * math.sin(2 * math.pi * 440 * (i * AUDIO_FRAME + n) / AUDIO_CLOCK))
            samples.extend((value, value))
        tone = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME)
        tone.planes[0].update(samples.tobytes())
        tone.sample_rate, tone.pts, tone.time_base = AUDIO_CLOCK, i * AUDIO_FRAME, Fraction(1, AUDIO_CLOCK)
        for packet in audio.encode(tone):
            out.mux(packet)
    for packet in audio.encode(None):
        out.mux(packet)
    out.close()
    return {
        "seconds": seconds,
        "video_frames": len(sizes),
        "keyframes": keyframes,
        "video_kbit_s": round(sum(sizes) * 8 / seconds / 1000, 1),
        "mean_frame_bytes": round(statistics.fmean(sizes)),
        "largest_frame_bytes": max(sizes),
    }


@dataclass
class Clip:
    video: list[bytes]
    audio: list[bytes]


def load_clip(path: Path) -> Clip:
    video: list[bytes] = []
    audio: list[bytes] = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size == 0:
                continue
            (video if packet.stream.type == "video" else audio).append(bytes(packet))
    return Clip(video, audio)


class ClipTrack(MediaStreamTrack):
    """Replays encoded frames in a loop, paced on the wall clock; aiortc's sender packetises them as they are.
    A paused track hands over nothing (its connection stays up) and resumes where it stopped."""

    def __init__(self, kind: str, frames: list[bytes]) -> None:
        super().__init__()
        self.kind = kind
        self.frames = frames
        self.clock, self.step = (VIDEO_CLOCK, VIDEO_CLOCK // FPS) if kind == "video" else (AUDIO_CLOCK, AUDIO_FRAME)
        self.period = self.step / self.clock
        self.sent = 0
        self.next_at: float | None = None
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        if not self.flowing.is_set():
            await self.flowing.wait()
            self.next_at = None  # pace from now on: no burst after a pause
        now = time.monotonic()
        if self.next_at is None:
            self.next_at = now
        await asyncio.sleep(max(0.0, self.next_at - now))
        self.next_at += self.period
        # Frame 0 is a keyframe, so the loop restarts cleanly.
        packet = av.Packet(self.frames[self.sent % len(self.frames)])
        packet.pts, packet.time_base = self.sent * self.step, Fraction(1, self.clock)
        self.sent += 1
        return packet


class SendingPeer:
    """One side's camera and microphone: a peer connection that can only send VP8 and Opus (what the clip holds)."""

    def __init__(self, clip: Clip) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback only: no STUN
        self.video = ClipTrack("video", clip.video)
        self.audio = ClipTrack("audio", clip.audio)
        for track, wanted in ((self.audio, "audio/opus"), (self.video, "video/vp8")):
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            codecs = RTCRtpSender.getCapabilities(track.kind).codecs
            transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() in (wanted, "video/rtx")])

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        async with asyncio.timeout(STEP_TIMEOUT_S):
            while self.pc.connectionState != "connected":
                if self.pc.connectionState in ("failed", "closed"):
                    raise RuntimeError(f"the connection {self.pc.connectionState}")
                await asyncio.sleep(0.02)

    def sent(self) -> dict[str, int]:
        return {"video": self.video.sent, "audio": self.audio.sent}

    def flow(self, on: bool) -> None:
        for track in (self.video, self.audio):
            if on:
                track.flowing.set()
            else:
                track.flowing.clear()

    async def close(self) -> None:
        await self.pc.close()


# ---- helper processes ------------------------------------------------------------------------------


def run_child(conn: Connection, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """The body of a helper process: its failure goes to the parent as ("error", traceback)."""
    try:
        asyncio.run(work())
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class Child:
    """A helper process (multiprocessing, spawn) and the pipe to it."""

    def __init__(self, name: str, target: Callable[..., None], args: Callable[[Connection], tuple[Any, ...]]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=args(child_end), daemon=True, name=name)
        self.proc.start()
        child_end.close()

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def expect(self, want: str, timeout: float = STEP_TIMEOUT_S) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.name}: no {want!r} within {timeout:g} s")
        message = self.conn.recv()
        if message[0] != want:
            detail = message[1] if message[0] == "error" else repr(message)[:300]
            raise RuntimeError(f"{self.name}: wanted {want!r}, got {detail}")
        return message[1] if len(message) > 1 else None

    def ask(self, message: tuple[Any, ...], want: str, timeout: float = STEP_TIMEOUT_S) -> Any:
        self.conn.send(message)
        return self.expect(want, timeout)

    def close(self, timeout: float = 15.0) -> None:
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        self.conn.close()


def sender_main(conn: Connection, clip_path: str) -> None:
    """Part 1's sender: one SendingPeer at a time, driven over the pipe (offer, answer, sent, close, exit)."""

    async def work() -> None:
        clip = load_clip(Path(clip_path))
        peer: SendingPeer | None = None
        conn.send(("ready",))
        while True:
            op, *rest = await asyncio.to_thread(conn.recv)
            if op == "offer":
                peer = SendingPeer(clip)
                conn.send(("offer", await peer.offer()))
            elif op == "answer" and peer is not None:
                await peer.accept(rest[0])
                conn.send(("connected",))
            elif op == "sent" and peer is not None:
                conn.send(("sent", peer.sent()))
            elif op == "close" and peer is not None:
                sent = peer.sent()
                await peer.close()
                peer = None
                conn.send(("closed", sent))
            elif op == "exit":
                return
            else:
                raise RuntimeError(f"sender: unexpected {op!r}")

    run_child(conn, work)


def aiortc_receiver_main(conn: Connection, kind: str, out_dir: str) -> None:
    """Part 1's reference receivers: an aiortc peer with MediaRecorder (mp4, webm), or a baseline that stores
    nothing: MediaBlackhole behind aiortc's decoders (decode) or behind our recorder's pass-through (receive)."""

    async def work() -> None:
        if kind == "receive":
            install_pass_through()  # what recordings.media_worker does: frames stay encoded
        _, offer = await asyncio.to_thread(conn.recv)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        sink: MediaRecorder | MediaBlackhole
        sink = (
            MediaBlackhole() if kind in ("decode", "receive") else MediaRecorder(str(Path(out_dir) / f"stream.{kind}"))
        )
        pc.on("track", sink.addTrack)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await sink.start()
        conn.send(("answer", pc.localDescription.sdp))
        await asyncio.to_thread(conn.recv)  # ("stop",)
        await sink.stop()
        await pc.close()
        conn.send(("stopped", {}))

    run_child(conn, work)


class RecorderWorker:
    """Our recorder process (``python -m recordings.media_worker ROOT``), spoken to as the server's pool does."""

    def __init__(self, root: Path, log_path: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "recordings.media_worker", str(root)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.ids = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = STEP_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"the recorder worker did not answer within {timeout:g} s") from None
            if message is None:
                raise RuntimeError(f"the recorder worker exited ({self.proc.poll()})")
            if match(message):
                return message
            self.events.append(message)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        self.send({**command, "id": self.ids})
        reply = self.wait_for(lambda m: m.get("id") == self.ids)
        if not reply.get("ok"):
            raise RuntimeError(f"the recorder worker refused {command['op']}: {reply.get('error')}")
        return reply

    def shutdown(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send({"op": "shutdown"})
            self.wait_for(lambda m: m.get("ev") == "bye", timeout=15.0)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def inspect_file(path: Path) -> dict[str, Any]:
    """Open a recorded file with PyAV and decode every packet of every stream: frames decoded, packets the
    decoder refused (and when the first was), gaps in the timestamps (a step over 1.5 times the usual one:
    frames missing), picture size and seconds covered."""
    out: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size, "streams": {}}
    try:
        with av.open(str(path)) as container:
            seen: dict[int, dict[str, Any]] = {}
            times: dict[int, list[float]] = {}
            for stream in container.streams:
                seen[stream.index] = {"codec": stream.codec_context.name, "packets": 0, "frames": 0, "refused": 0}
                times[stream.index] = []
            for packet in container.demux():
                if packet.size == 0:
                    continue
                entry = seen[packet.stream.index]
                entry["packets"] += 1
                at = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None
                if at is not None:
                    times[packet.stream.index].append(at)
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:
                    entry["refused"] += 1
                    entry.setdefault("first_refused", {"at_s": at, "error": str(exc)[:120]})
                    continue
                for frame in frames:
                    if isinstance(frame, (av.VideoFrame, av.AudioFrame)):
                        entry["frames"] += 1
                    if isinstance(frame, av.VideoFrame):
                        entry["size"] = f"{frame.width}x{frame.height}"
            for stream in container.streams:
                entry, stamps = seen[stream.index], sorted(times[stream.index])
                steps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
                usual = statistics.median(steps) if steps else 0.0
                entry["seconds"] = round(stamps[-1] - stamps[0], 2) if stamps else 0.0
                entry["gaps"] = sum(1 for d in steps if d > 1.5 * usual)
                out["streams"][stream.type] = entry
    except (av.FFmpegError, OSError, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def faulty(info: dict[str, Any]) -> bool:
    """A file that would not open, or whose decoder refused some of its packets."""
    return "error" in info or any(s["refused"] for s in info["streams"].values())


def descendants(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the server's recorder workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def stolen() -> float:
    """Jiffies of all CPUs that the hypervisor gave to other machines since boot (``steal`` in /proc/stat)."""
    return float(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])


def busy_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    return (after[0] - before[0]) / max(1.0, after[1] - before[1])


# ---- 1. CPU per recorded stream ----------------------------------------------------------------------


def record_one(
    kind: str, sender: Child, out_dir: Path, log_dir: Path, tag: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One receiver records one stream from the sender: its CPU over the window, then its files checked."""
    out_dir.mkdir(parents=True)
    worker: RecorderWorker | None = None
    reference: Child | None = None
    if kind == "ours":
        worker = RecorderWorker(out_dir, log_dir / f"{tag}-worker.log")
        pid = worker.pid
    else:
        reference = Child(f"{kind} receiver", aiortc_receiver_main, lambda end: (end, kind, str(out_dir)))
        pid = reference.pid
    result: dict[str, Any] = {"receiver": kind, "window_s": args.window}
    try:
        offer = sender.ask(("offer",), "offer")
        if worker is not None:
            reply = worker.ask(
                {"op": "offer", "case_id": "BENCH", "side": "citizen", "description": {"type": "offer", "sdp": offer}}
            )
            answer = reply["description"]["sdp"]
        else:
            assert reference is not None
            answer = reference.ask(("offer", offer), "answer")
        sender.ask(("answer", answer), "connected")
        time.sleep(args.warmup)
        sent0 = sender.ask(("sent",), "sent")
        began = time.monotonic()
        cpu0, sender0, busy0, steal0 = cpu_seconds(pid), cpu_seconds(sender.pid), machine_busy(), stolen()
        time.sleep(args.window)
        cpu1, sender1, busy1, steal1 = cpu_seconds(pid), cpu_seconds(sender.pid), machine_busy(), stolen()
        window = time.monotonic() - began
        sent1 = sender.ask(("sent",), "sent")
        result.update(
            window_s=round(window, 3),
            cpu_s=round(cpu1 - cpu0, 3),
            cores=(cpu1 - cpu0) / window,
            sender_cores=(sender1 - sender0) / window,
            machine_busy=busy_share(busy0, busy1),
            steal=(steal1 - steal0) / max(1.0, busy1[1] - busy0[1]),
            window_video_frames=sent1["video"] - sent0["video"],
        )
        # The receiver stops while the media still flows (as a case ending does), then the sender hangs up.
        if worker is not None:
            stopping = sender.ask(("sent",), "sent")
            worker.ask({"op": "stop", "case_id": "BENCH"})
            result["worker_closed"] = [e["facts"] for e in worker.events if e.get("ev") == "closed"]
        else:
            assert reference is not None
            stopping = sender.ask(("sent",), "sent")
            reference.ask(("stop",), "stopped", timeout=60.0)
        result["sent_until_stop"] = stopping
        result["sent_total"] = sender.ask(("close",), "closed")
    finally:
        if worker is not None:
            worker.shutdown()
        if reference is not None:
            reference.close()
    result["files"] = [inspect_file(p) for p in sorted(out_dir.rglob("*")) if p.is_file()]
    stored = sum(f["streams"].get("video", {}).get("frames", 0) for f in result["files"])
    result["video_frames_stored"] = stored
    result["stored_share"] = stored / result["sent_until_stop"]["video"] if kind in ("ours", "mp4", "webm") else None
    return result


def cpu_part(work: Path, log_dir: Path, clip_path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    sender = Child("sender", sender_main, lambda end: (end, str(clip_path)))
    runs: list[dict[str, Any]] = []
    try:
        sender.expect("ready")
        for rnd in range(1, args.rounds + 1):
            for kind in args.receivers:
                log(f"1. round {rnd}: {RECEIVERS[kind]}: {args.warmup:g} s warm-up, {args.window:g} s measured")
                tag = f"cpu-r{rnd}-{kind}"
                try:
                    run = record_one(kind, sender, work / tag, log_dir, tag, args)
                except Exception as exc:
                    run = {"receiver": kind, "error": f"{type(exc).__name__}: {exc}"}
                    log(f"1. round {rnd}: {kind}: FAILED: {run['error']}")
                else:
                    log(
                        f"1. round {rnd}: {kind}: {run['cores']:.3f} cores, sender {run['sender_cores']:.3f},"
                        f" machine {run['machine_busy'] * 100:.0f}% busy, {run['video_frames_stored']} video frames"
                        f" stored of {run['sent_until_stop']['video']} sent"
                    )
                run["round"] = rnd
                runs.append(run)
        sender.conn.send(("exit",))
    finally:
        sender.close()
    return runs


def cpu_summary(runs: list[dict[str, Any]], receivers: list[str]) -> dict[str, Any]:
    by_kind: dict[str, Any] = {}
    for kind in receivers:
        mine = [r for r in runs if r["receiver"] == kind and "error" not in r]
        by_kind[kind] = {
            "runs": len(mine),
            "cores": median([r["cores"] for r in mine]),
            "cores_each_round": [round(r["cores"], 4) for r in mine],
            "stored_share": median([r["stored_share"] for r in mine]),
        }
    ratios: dict[str, Any] = {}
    for kind in receivers:
        if kind == "ours" or "ours" not in by_kind:
            continue
        ours, theirs = by_kind["ours"]["cores"], by_kind[kind]["cores"]
        rounds: dict[int, dict[str, float]] = {}
        for r in runs:
            if "error" not in r and r["receiver"] in ("ours", kind):
                rounds.setdefault(r["round"], {})[r["receiver"]] = r["cores"]
        ratios[kind] = {
            "ours_over_theirs": ours / theirs if ours is not None and theirs else None,
            "each_round": [round(v["ours"] / v[kind], 4) for _, v in sorted(rounds.items()) if len(v) == 2 and v[kind]],
        }
    reference = ratios.get("mp4") or ratios.get("webm") or {}
    main_ratio = reference.get("ours_over_theirs")
    return {
        "receivers": by_kind,
        "ratios": ratios,
        "aim": CPU_AIM,
        "meets_aim": main_ratio is not None and main_ratio <= CPU_AIM,
    }


def cpu_markdown(
    runs: list[dict[str, Any]], summ: dict[str, Any], clip: dict[str, Any], args: argparse.Namespace
) -> str:
    lines = [
        f"#### 1. CPU of the receiving process per 640x480 30 fps stream (VP8 at {clip['video_kbit_s']:g} kbit/s"
        f" + Opus), median of {args.rounds} rounds of {args.window:g} s",
        "",
        "| receiver | CPU (cores) | each round | video frames stored / sent |",
        "|---|---:|---|---:|",
    ]
    for kind in args.receivers:
        s = summ["receivers"][kind]
        stored = "–" if s["stored_share"] is None else f"{s['stored_share'] * 100:.1f} %"
        each = ", ".join(f"{c:.3f}" for c in s["cores_each_round"])
        lines.append(f"| {RECEIVERS[kind]} | {fmt(s['cores'], 3)} | {each} | {stored} |")
    lines.append("")
    for kind, ratio in summ["ratios"].items():
        each = ", ".join(f"{x:.3f}" for x in ratio["each_round"])
        lines.append(f"- ours / {kind}: **{fmt(ratio['ours_over_theirs'], 3)}** (each round: {each})")
    verdict = "met" if summ["meets_aim"] else "NOT met"
    lines += [
        f"- Aim: ours ≤ {CPU_AIM} of MediaRecorder's (against MP4, the cheaper of the two): {verdict}.",
        "",
        "| round | receiver | CPU (cores) | sender (cores) | machine busy | stolen | video stored / sent"
        " | files (frames decoded) |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['round']} | {r['receiver']} | error: {r['error'][:100]} |||||")
            continue
        files = "; ".join(
            f"{f['file'][:24]}: "
            + ", ".join(f"{k} {v['frames']} ({v.get('size', v['codec'])})" for k, v in f["streams"].items())
            + (f" ERROR {f['error']}" if "error" in f else "")
            + "".join(f" {k}: {v['refused']} refused" for k, v in f["streams"].items() if v["refused"])
            for f in r["files"]
        )
        lines.append(
            f"| {r['round']} | {r['receiver']} | {r['cores']:.3f} | {r['sender_cores']:.3f}"
            f" | {r['machine_busy'] * 100:.0f} % | {r['steal'] * 100:.0f} %"
            f" | {r['video_frames_stored']} / {r['sent_until_stop']['video']}"
            f" | {files or '–'} |"
        )
    return "\n".join(lines)


# ---- 2. signaling latency while recording ----------------------------------------------------------


def media_main(conn: Connection, base_url: str, tokens: list[str], clip_path: str, nice: int) -> None:
    """Part 2's media: len(tokens) cases paired through the server, the citizen consents, and both sides of
    each send camera and microphone to the server's recorder through ``record_offer``. Then ("pause",) and
    ("resume",) stop and restart every track's frames (the connections stay up), each answered ("ok",);
    ("stop",) hangs up and ends the cases."""

    async def work() -> None:
        os.nice(nice)  # these stand for the browsers, on other machines in life: they yield to the server
        clip = load_clip(Path(clip_path))
        cfg = GenConfig(
            index=99,
            kind="ours",
            mode="concurrent",
            base_url=base_url,
            client="lean",
            pairs=len(tokens),
            payload_bytes=0,
            clerk_tokens=tokens,
        )
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            cases = Generator(cfg, conn, threading.Lock())  # pairs as a console and a kiosk do
            cases.session = http
            peers: list[tuple[str, str, SendingPeer]] = []
            try:
                await cases.setup()
                for pair in cases.pairs:
                    ack = await pair.citizen.call("consent", {"case_id": pair.case_id, "recording": True})
                    if not (isinstance(ack, dict) and ack.get("ok")):
                        raise RuntimeError(f"consent refused: {ack!r:.300}")
                for pair in cases.pairs:
                    for side, client in (("citizen", pair.citizen), ("clerk", pair.clerk)):
                        peer = SendingPeer(clip)
                        peers.append((pair.case_id, side, peer))
                        offer = {"case_id": pair.case_id, "description": {"type": "offer", "sdp": await peer.offer()}}
                        ack = await client.call("record_offer", offer, STEP_TIMEOUT_S)
                        if not (isinstance(ack, dict) and ack.get("ok")):
                            raise RuntimeError(f"record_offer refused: {ack!r:.300}")
                        await peer.accept(ack["description"]["sdp"])
                conn.send(("ready", {"cases": [p.case_id for p in cases.pairs]}))
                while (op := (await asyncio.to_thread(conn.recv))[0]) != "stop":
                    for _, _, peer in peers:
                        peer.flow(op == "resume")
                    conn.send(("ok",))
                sent = [{"case_id": c, "side": s, **p.sent()} for c, s, p in peers]
            finally:
                await asyncio.gather(*(p.close() for _, _, p in peers), return_exceptions=True)
                problems = await cases.teardown()  # end_case: the server finishes the case's files
            conn.send(("stopped", {"sent": sent, "teardown_problems": problems}))

    run_child(conn, work)


def add_auditor(var_dir: Path) -> None:
    cmd = [*rvw_command(), "user", "add", "--username", AUDITOR, "--role", "auditor", "--region", "delta"]
    done = subprocess.run(
        [*cmd, "--display-name", "Bench auditor"],
        env=ours_env(var_dir),
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"adding the auditor failed: {done.stderr.strip()[-500:]}")


async def recording_rows(base_url: str, token: str, case_ids: list[str], within: float) -> dict[str, list[Any]]:
    """GET /api/cases/{id}/recordings until no row of these cases is still being written."""
    deadline = time.monotonic() + within
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        while True:
            rows: dict[str, list[Any]] = {}
            for case_id in case_ids:
                async with http.get(f"{base_url}/api/cases/{case_id}/recordings", headers=headers) as resp:
                    rows[case_id] = list(await resp.json()) if resp.status == 200 else []
            settled = all(rs and all(r.get("state") != "recording" for r in rs) for rs in rows.values())
            if settled or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.2)


def check_recordings(
    server: ServerProcess, auditor: str, stopped: dict[str, Any], recordings_dir: Path
) -> dict[str, Any]:
    """The rows the server kept for the recorded cases, and every file decoded against what was sent."""
    sent = stopped["sent"]
    case_ids = sorted({s["case_id"] for s in sent})
    rows = asyncio.run(recording_rows(server.base_url, auditor, case_ids, within=30.0))
    files = []
    for s in sent:
        for path in sorted((recordings_dir / "media" / s["case_id"]).glob(f"{s['side']}-*")):
            info = inspect_file(path)
            info["sent"] = s["video"] if "-video-" in path.name else s["audio"]
            files.append(info)
    video = [f for f in files if "video" in f["streams"]]
    return {
        "rows": sum(len(rs) for rs in rows.values()),
        "row_states": sorted({str(r.get("state")) for rs in rows.values() for r in rs}),
        "files": len(files),
        "video_files": len(video),
        "bad_files": [f for f in files if faulty(f)],
        "video_frames_stored": sum(f["streams"]["video"]["frames"] for f in video),
        "video_frames_sent": sum(f["sent"] for f in video),
        "video_sizes": sorted({f["streams"]["video"].get("size", "?") for f in video}),
        "video_gaps": sum(f["streams"]["video"]["gaps"] for f in video),
        "packets_refused": sum(s["refused"] for f in files for s in f["streams"].values()),
        "teardown_problems": stopped["teardown_problems"],
    }


def generator_args(cfg: GenConfig, lock: Any) -> Callable[[Connection], tuple[Any, ...]]:
    return lambda end: (cfg, end, lock)


def sleep_until_ns(t_ns: int) -> None:
    time.sleep(max(0.0, (t_ns - time.monotonic_ns()) / 1e9))


def renice(pids: list[int], niceness: int) -> None:
    """Set the niceness of every thread of these processes (on Linux it belongs to each thread)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)


def set_sched(pids: list[int], policy: str) -> None:
    """Put every thread of these processes under Linux's SCHED_IDLE ("idle") or the normal policy ("normal");
    a thread's niceness stays."""
    number = os.SCHED_IDLE if policy == "idle" else os.SCHED_OTHER
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setscheduler(int(task.name), number, os.sched_param(0))


def other_sched(args: argparse.Namespace) -> str:
    return "normal" if args.recorder_sched == "idle" else "idle"


def condition_label(condition: str, args: argparse.Namespace) -> str:
    return {
        "none": "nothing recorded",
        "recording": f"{args.streams} streams recorded (recorders {args.recorder_sched})",
        "other": f"{args.streams} streams recorded (recorders {other_sched(args)})",
    }[condition]


def toggled_signals(
    server: ServerProcess, tokens: list[str], media: Child, plan: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """One paced signal load over the whole plan (bench.loadgen generators). The media is paused in the
    blocks marked "none" and flows in the others; in "other" ones the server's recorder processes run under the
    other scheduling policy than ``--recorder-sched``. Latencies are split by the block each signal was sent in,
    leaving out the first ``--settle`` seconds of every block (the switch)."""
    lock = multiprocessing.get_context("spawn").Lock()
    gens = []
    for i in range(args.procs):
        cfg = GenConfig(
            index=i,
            kind="ours",
            mode="concurrent",
            base_url=server.base_url,
            client="lean",
            pairs=args.pairs,
            payload_bytes=args.payload,
            clerk_tokens=tokens[i * args.pairs : (i + 1) * args.pairs],
            interval_s=2 * args.procs * args.pairs / args.rate,  # two senders per pair
            keep_send_times=True,
        )
        gens.append(Child(f"generator {i}", generator_main, generator_args(cfg, lock)))
    block_ns = int(args.block * 1e9)
    recorders = descendants(server.pid)
    groups = {"server": [server.pid], "recorders": recorders, "media senders": [media.pid]}

    def snapshot() -> tuple[dict[str, float], tuple[float, float], int, float]:
        return {k: cpu_of(v) for k, v in groups.items()}, machine_busy(), time.monotonic_ns(), stolen()

    began = time.monotonic()
    flowing, switched = False, False
    try:
        for gen in gens:
            gen.expect("ready", timeout=90.0)
        if args.load_nice:
            try:
                renice([gen.pid for gen in gens], args.load_nice)
            except PermissionError:  # a negative niceness needs root (CAP_SYS_NICE): measure without it
                log(f"2. the load generators could not be set to nice {args.load_nice}: left at 0")
                args.load_nice = 0
        setup_s = time.monotonic() - began
        start = time.monotonic_ns() + 300_000_000
        window_start = start + int(args.signal_warmup * 1e9)
        window_end = window_start + len(plan) * block_ns
        for gen in gens:
            gen.conn.send(("go", start, window_start, window_end))
        snaps = []
        for k, condition in enumerate(plan):
            sleep_until_ns(window_start + k * block_ns)
            if (condition == "other") != switched:
                switched = not switched
                set_sched(recorders, other_sched(args) if switched else args.recorder_sched)
            if (condition != "none") != flowing:
                flowing = not flowing
                media.ask(("resume" if flowing else "pause",), "ok")
            snaps.append(snapshot())
        sleep_until_ns(window_end)
        snaps.append(snapshot())
        results = [gen.expect("result", timeout=60.0) for gen in gens]
    finally:
        if switched:
            set_sched(recorders, args.recorder_sched)
        if flowing:
            media.ask(("pause",), "ok")
        for gen in gens:
            gen.close()
    seconds = len(plan) * args.block
    server_cpu = snaps[-1][0]["server"] - snaps[0][0]["server"]
    overall = summarise(results, "paced", seconds, setup_s, server_cpu, snaps[0][1], snaps[-1][1])
    for key in ("p50_ms", "p99_ms", "max_ms", "mean_ms"):
        overall.pop(key)  # over every condition at once: not a figure of any
    blocks: list[array.array[int]] = [array.array("q") for _ in plan]
    settle_ns = int(args.settle * 1e9)
    for r in results:
        latencies, sent_at = array.array("q"), array.array("q")
        latencies.frombytes(r["latencies_ns"])
        sent_at.frombytes(r["send_times_ns"])
        for t0, latency in zip(sent_at, latencies, strict=True):
            k, offset = divmod(t0 - window_start, block_ns)
            if 0 <= k < len(plan) and offset >= settle_ns:
                blocks[k].append(latency)
    conditions: dict[str, Any] = {}
    for condition in dict.fromkeys(plan):
        mine = [k for k, c in enumerate(plan) if c == condition]
        ordered = sorted(v for k in mine for v in blocks[k])
        span = sum(snaps[k + 1][2] - snaps[k][2] for k in mine) / 1e9
        busy = sum(snaps[k + 1][1][0] - snaps[k][1][0] for k in mine)
        jiffies = sum(snaps[k + 1][1][1] - snaps[k][1][1] for k in mine)
        conditions[condition] = {
            "label": condition_label(condition, args),
            "blocks": len(mine),
            "signals": len(ordered),
            "per_s": len(ordered) / (span - len(mine) * args.settle),
            "p50_ms": percentile(ordered, 0.50),
            "p95_ms": percentile(ordered, 0.95),
            "p99_ms": percentile(ordered, 0.99),
            "max_ms": ordered[-1] / 1e6 if ordered else None,
            "cpu_cores": {g: sum(snaps[k + 1][0][g] - snaps[k][0][g] for k in mine) / span for g in groups},
            "machine_busy_share": busy / max(1.0, jiffies),
            "steal_share": sum(snaps[k + 1][3] - snaps[k][3] for k in mine) / max(1.0, jiffies),
        }
    each = []
    for k, condition in enumerate(plan):
        ordered = sorted(blocks[k])
        each.append(
            {
                "block": k + 1,
                "condition": condition,
                "signals": len(ordered),
                "p50_ms": percentile(ordered, 0.50),
                "p99_ms": percentile(ordered, 0.99),
                "busy": busy_share(snaps[k][1], snaps[k + 1][1]),
                "steal": (snaps[k + 1][3] - snaps[k][3]) / max(1.0, snaps[k + 1][1][1] - snaps[k][1][1]),
            }
        )
    return {"overall": overall, "conditions": conditions, "blocks": each, "recorder_processes": len(recorders)}


def latency_part(work: Path, log_dir: Path, clip_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    var_dir = work / "var"
    var_dir.mkdir()
    cases = args.streams // 2
    clerks = args.procs * args.pairs + cases
    log(f"2. creating {clerks} clerks and an auditor with `rvw user add`")
    created_s = create_clerks(var_dir, clerks, parallel=os.cpu_count() or 2)
    add_auditor(var_dir)
    extra = {
        "RVW_RECORDING": "optional",
        "RVW_RECORDER_WORKERS": str(args.recorder_workers),
        "RVW_RECORDER_SCHED": args.recorder_sched,
    }
    server = ServerProcess("ours", var_dir, log_dir, tag="latency", extra_env=extra)
    out: dict[str, Any] = {"clerk_setup_s": round(created_s, 1)}
    media: Child | None = None
    try:
        server.start()
        tokens = asyncio.run(login_all(server.base_url, [clerk_name(i) for i in range(clerks)] + [AUDITOR]))
        auditor = tokens.pop()
        gen_tokens, media_tokens = tokens[: args.procs * args.pairs], tokens[args.procs * args.pairs :]
        log(f"2. {cases} cases, both sides sending camera and microphone to the server's recorder")
        media = Child("media", media_main, lambda end: (end, server.base_url, media_tokens, str(clip_path), args.nice))
        out["cases"] = media.expect("ready", timeout=120.0)["cases"]
        time.sleep(args.warmup)  # every file has had its first keyframe
        media.ask(("pause",), "ok")
        group = ["none", "recording"] + (["other"] if args.compare_sched else [])
        plan = group * args.blocks
        log(
            f"2. {args.rate:g} signals/s from {args.procs * args.pairs} pairs for {len(plan) * args.block:g} s,"
            f" in {args.block:g} s blocks, in turn: " + "; ".join(condition_label(c, args) for c in group)
        )
        out.update(toggled_signals(server, gen_tokens, media, plan, args))
        out["niceness"] = {"load generators": args.load_nice, "media senders": args.nice, "server": 0}
        stopped = media.ask(("stop",), "stopped", timeout=60.0)
        out["recordings"] = check_recordings(server, auditor, stopped, var_dir / "recordings")
    finally:
        if media is not None:
            media.close()
        server.stop()
        out["server_log_problems"] = server.problems()[:30]
    out["summary"] = latency_summary(out, len(group))
    s = out["summary"]
    for condition, ratio in s["p99_ratio"].items():
        log(
            f"2. p99 {condition_label(condition, args)} / nothing recorded: {fmt(ratio, 2)}"
            f" (median over the rounds of blocks {fmt(s['p99_ratio_rounds_median'][condition], 2)})"
        )
    return out


def latency_summary(part: dict[str, Any], per_round: int) -> dict[str, Any]:
    conditions = part["conditions"]
    none = conditions["none"]
    blocks = part["blocks"]
    rounds = [blocks[i : i + per_round] for i in range(0, len(blocks), per_round)]
    ratios: dict[str, Any] = {}
    each: dict[str, list[float]] = {}
    for condition, c in conditions.items():
        if condition == "none":
            continue
        ratios[condition] = {
            key: c[key] / none[key] if c[key] is not None and none[key] else None
            for key in ("p50_ms", "p95_ms", "p99_ms")
        }
        each[condition] = [
            round(b["p99_ms"] / r[0]["p99_ms"], 3)
            for r in rounds
            for b in r
            if b["condition"] == condition and b["p99_ms"] is not None and r[0]["p99_ms"]
        ]
    p99 = ratios["recording"]["p99_ms"]
    return {
        "conditions": conditions,
        "ratios": ratios,
        "p99_ratio": {c: r["p99_ms"] for c, r in ratios.items()},
        "p99_ratio_rounds": each,
        "p99_ratio_rounds_median": {c: statistics.median(v) if v else None for c, v in each.items()},
        "aim": LATENCY_AIM,
        "meets_aim": p99 is not None and p99 <= LATENCY_AIM,
    }


def latency_markdown(part: dict[str, Any], args: argparse.Namespace) -> str:
    s = part["summary"]
    conditions = s["conditions"]
    names = list(conditions)
    rec = part["recordings"]
    overall = part["overall"]
    header = " | ".join(conditions[c]["label"] for c in names)
    lines = [
        f"#### 2. Signal latency at {args.rate:g} signals/s ({args.procs * args.pairs} pairs, one in flight per"
        f" client), {args.blocks} rounds of {len(names)} blocks of {args.block:g} s",
        "",
        f"| measure | {header} |",
        "|---|" + "---:|" * len(names),
    ]

    def row(label: str, cell: Callable[[str], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(c) for c in names) + " |")

    row(
        f"signals timed (the first {args.settle:g} s of each block left out)", lambda c: f"{conditions[c]['signals']:,}"
    )
    row("relayed signals/s", lambda c: fmt(conditions[c]["per_s"], 0))
    for q in ("p50", "p95", "p99"):

        def cell(c: str, q: str = q) -> str:
            value = fmt(conditions[c][f"{q}_ms"], 2)
            ratio = s["ratios"].get(c, {}).get(f"{q}_ms")
            if ratio is None:
                return value
            return f"{value} (× {ratio:.2f})" if q != "p99" else f"{value} (**× {ratio:.2f}**)"

        row(f"latency send→receipt {q} (ms) (× of nothing recorded)", cell)
    row("latency send→receipt max (ms)", lambda c: fmt(conditions[c]["max_ms"], 1))
    for group in conditions["none"]["cpu_cores"]:

        def cores(c: str, g: str = group) -> str:
            return f"{conditions[c]['cpu_cores'][g]:.2f}"

        row(f"{group} CPU (cores)", cores)
    row("machine busy (all processes, and stolen)", lambda c: f"{conditions[c]['machine_busy_share'] * 100:.0f} %")
    row("of which stolen by the hypervisor", lambda c: f"{conditions[c]['steal_share'] * 100:.0f} %")
    lines.append("")
    for c, values in s["p99_ratio_rounds"].items():
        lines.append(
            f"- p99 {conditions[c]['label']} / nothing recorded: **{fmt(s['p99_ratio'][c], 2)}**; each round of"
            f" blocks: {', '.join(f'{x:.2f}' for x in values)} (median {fmt(s['p99_ratio_rounds_median'][c], 2)})."
        )
    lines += [
        f"- Aim: p99 while recording ≤ {LATENCY_AIM} × p99 with nothing recorded:"
        f" {'met' if s['meets_aim'] else 'NOT met'}.",
        f"- In all: {overall['received']:,} signals relayed, {overall['failures']} failed acks, time-outs or"
        f" misroutes; the load generators used {fmt(overall['client_cpu_share'], 2)} cores.",
        f"- Recorded: {rec['files']} files ({rec['video_files']} video), rows {', '.join(rec['row_states']) or 'none'};"
        f" video frames decoded {rec['video_frames_stored']:,} of {rec['video_frames_sent']:,} sent, at"
        f" {', '.join(rec['video_sizes'])}; {len(rec['bad_files'])} files with packets the decoder refused"
        f" ({rec['packets_refused']} packets), {rec['video_gaps']} gaps in the video timestamps.",
        "",
        "| block | condition | signals | p50 ms | p99 ms | machine busy | stolen |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for b in part["blocks"]:
        lines.append(
            f"| {b['block']} | {b['condition']} | {b['signals']:,} | {fmt(b['p50_ms'], 2)}"
            f" | {fmt(b['p99_ms'], 2)} | {b['busy'] * 100:.0f} % | {b['steal'] * 100:.0f} % |"
        )
    return "\n".join(lines)


def versions() -> dict[str, str]:
    return {**signaling_versions(), "aiortc": metadata.version("aiortc"), "av": metadata.version("av")}


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return done.stdout.strip() + (" (work tree changed)" if dirty.strip() else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.recording", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 round, shorter windows, no WebM reference (about 2 min)")
    p.add_argument("--part", choices=("cpu", "latency", "both"), default="both", help="which measurement (both)")
    p.add_argument("--rounds", type=int, help="part 1: rounds, each receiver once (3; --quick 1)")
    p.add_argument("--receivers", help="part 1: from ours,mp4,webm,receive,decode (ours,mp4,webm,receive)")
    p.add_argument("--window", type=float, help="part 1: measured seconds per receiver (10; --quick 5)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds streaming before a window (3)")
    p.add_argument("--clip-seconds", type=int, default=10, help="length of the replayed clip (10)")
    p.add_argument("--kbps", type=int, default=1000, help="video bit rate of the clip (1000)")
    p.add_argument("--keyframe-every", type=int, default=60, help="frames between keyframes in the clip (60)")
    p.add_argument("--streams", type=int, default=8, help="part 2: sides recorded, two per case (8)")
    p.add_argument("--recorder-workers", type=int, default=2, help="part 2: RVW_RECORDER_WORKERS (2)")
    p.add_argument("--procs", type=int, default=2, help="part 2: signal load generator processes (2)")
    p.add_argument("--pairs", type=int, default=20, help="part 2: pairs per generator process (20)")
    p.add_argument("--rate", type=float, default=800.0, help="part 2: signals per second offered in all (800)")
    p.add_argument("--payload", type=int, default=2048, help="part 2: characters of SDP per signal (2048)")
    p.add_argument(
        "--blocks", type=int, help="part 2: rounds of blocks: nothing recorded, then recording (12; quick 4)"
    )
    p.add_argument("--block", type=float, default=4.0, help="part 2: seconds per block (4)")
    p.add_argument("--settle", type=float, default=0.5, help="part 2: seconds left out at the start of a block (0.5)")
    p.add_argument("--signal-warmup", type=float, default=2.0, help="part 2: unmeasured seconds of load first (2)")
    p.add_argument("--nice", type=int, default=10, help="part 2: niceness of the media senders' process (10)")
    p.add_argument(
        "--load-nice",
        type=int,
        default=-5,
        help="part 2: niceness of the signal load generators, which time the signals (-5: ahead of the rest)",
    )
    p.add_argument(
        "--recorder-sched",
        choices=("idle", "normal"),
        default="idle",
        help="part 2: RVW_RECORDER_SCHED of the server's recorder processes (idle, as deployed by default)",
    )
    p.add_argument(
        "--compare-sched",
        action="store_true",
        help="part 2: add blocks with the recorder processes under the other policy (normal, at their niceness)",
    )
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    p.add_argument("--keep", type=Path, help="copy the logs and the recordings into this directory")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.window = args.window or (5.0 if args.quick else 10.0)
    args.blocks = args.blocks or (4 if args.quick else 12)
    args.receivers = (args.receivers or ("ours,mp4" if args.quick else "ours,mp4,webm,receive")).split(",")
    if unknown := [k for k in args.receivers if k not in RECEIVERS]:
        p.error(f"unknown receivers: {', '.join(unknown)}")
    if args.streams < 2 or args.streams % 2:
        p.error("--streams must be even (both sides of each case) and at least 2")
    if min(args.rounds, args.procs, args.pairs, args.window, args.blocks, args.block, args.rate) <= 0:
        p.error("rounds, procs, pairs, windows and rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "recording",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": git_commit(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "load_before": os.getloadavg(),
    }
    tables: list[str] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="rvw-bench-rec-") as tmp:
        work, log_dir = Path(tmp), Path(tmp) / "logs"
        log_dir.mkdir()
        clip_path = work / "clip.webm"
        log(f"encoding the {args.clip_seconds} s clip every sender replays")
        clip = make_clip(clip_path, args.clip_seconds, args.kbps, args.keyframe_every)
        result["clip"] = clip
        log(f"clip: {clip}")
        try:
            if args.part in ("cpu", "both"):
                runs = cpu_part(work, log_dir, clip_path, args)
                summ = cpu_summary(runs, args.receivers)
                result["cpu"] = {"summary": summ, "runs": runs}
                tables.append(cpu_markdown(runs, summ, clip, args))
                failed |= any("error" in r for r in runs)
            if args.part in ("latency", "both"):
                part = latency_part(work, log_dir, clip_path, args)
                result["latency"] = part
                tables.append(latency_markdown(part, args))
        finally:
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for path in work.rglob("*"):
                    if path.is_file() and not path.name.startswith("rvw.sqlite3"):
                        target = args.keep / path.relative_to(work)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(path.read_bytes())
    result["elapsed_s"] = round(time.monotonic() - began, 1)
    result["load_after"] = os.getloadavg()
    result["markdown"] = "\n\n".join(tables)
    print(result["markdown"])
    log(f"done in {result['elapsed_s']:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
        log(f"results written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
