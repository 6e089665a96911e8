"""A load generator process: it holds both ends of its pairs, so one clock times send and receipt.

The parent (bench.signaling) starts it with ``multiprocessing`` (spawn) and talks to it over a pipe:

    child -> parent  ("ready", {...})  after every pair is connected and paired, or ("error", text)
    parent -> child  ("go", start_ns, window_start_ns, window_end_ns)   times on time.monotonic_ns()
    child -> parent  ("result", {...})

Two modes:

* ``concurrent``: both ends of every pair send ``signal`` events back to back, each waiting for the
  acknowledgement of its previous one (one event in flight per sender); or, with ``interval_s``, one event every
  ``interval_s`` per sender (a paced load, still one in flight). Counted: events received by the peer
  inside the measurement window, and the latency from send to receipt of each.
* ``sequential``: one pair, one event in flight in the whole system: the clerk sends, the citizen echoes the
  description back as an answer when it arrives, the clerk sends the next one when the echo arrives. Counted:
  round trips and their times.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from .wire import Client, LeanClient, SioClient

SDP_HEADER_OFFSET = len("v=0\r\no=- ")
CALL_TIMEOUT_S = 10.0


@dataclass
class GenConfig:
    index: int
    kind: str  # "bare" | "ours"
    mode: str  # "concurrent" | "sequential"
    base_url: str
    client: str  # "lean" | "sio"
    pairs: int
    payload_bytes: int
    clerk_tokens: list[str] = field(default_factory=list)  # ours: one per pair
    citizen_region: str = "320500"
    target_region: str = "310000"
    matter_code: str = "SB-ZY-001"
    # concurrent: seconds from one send of a client to its next (0: back to back, as soon as acknowledged). Each
    # client starts at a random point of its first interval, so the load is spread rather than in bursts.
    interval_s: float = 0.0
    # concurrent: also report when each timed signal was sent (``send_times_ns``, in the order of ``latencies_ns``)
    keep_send_times: bool = False


@dataclass
class Pair:
    name: str
    clerk: Client
    citizen: Client
    case_id: str = ""


class SdpMaker:
    """SDP-like text of about ``size`` characters whose origin line carries the send time and a sequence."""

    def __init__(self, size: int) -> None:
        lines = [
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1",
            "a=extmap-allow-mixed",
            "a=msid-semantic: WMS bench",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:b3nC",
            "a=ice-pwd:2b0c4f1e9d8a7b6c5d4e3f2a1b0c9d8e",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 4F:1C:22:9A:3B:7E:00:5D:AA:91:6C:2F:83:10:E4:B7"
            ":58:0D:C9:66:21:F3:7A:BE:42:19:8D:05:6E:C1:3A:F0",
            "a=setup:actpass",
            "a=mid:0",
            "a=sendrecv",
            "a=rtcp-mux",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109",
            "c=IN IP4 0.0.0.0",
            "a=mid:1",
            "a=rtpmap:96 VP8/90000",
            "a=rtcp-fb:96 goog-remb",
            "a=rtcp-fb:96 transport-cc",
            "a=rtcp-fb:96 ccm fir",
            "a=rtcp-fb:96 nack",
            "a=rtcp-fb:96 nack pli",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=96",
        ]
        body = ""
        n = 0
        while len(body) < size:
            body += lines[n % len(lines)] + "\r\n"
            n += 1
        self.body = body[: max(0, size - 48)]

    def __call__(self, t0_ns: int, seq: int) -> str:
        return f"v=0\r\no=- {t0_ns} {seq} IN IP4 127.0.0.1\r\n{self.body}"


def sent_at(sdp: str) -> int:
    return int(sdp[SDP_HEADER_OFFSET : sdp.index(" ", SDP_HEADER_OFFSET)])


def is_ok(ack: Any) -> bool:
    return isinstance(ack, dict) and ack.get("ok") is True


def error_code(ack: Any) -> str:
    if isinstance(ack, dict) and isinstance(ack.get("error"), dict):
        return str(ack["error"].get("code"))
    return f"malformed ack {ack!r:.60}"


class Tally:
    """What one generator saw."""

    def __init__(self, window_start: int, window_end: int, keep_send_times: bool = False) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.latencies = array("q")  # ns, messages received inside the window
        self.send_times: array[int] | None = array("q") if keep_send_times else None  # their send times
        self.received = 0  # inside the window
        self.received_total = 0
        self.sent = 0  # sends started inside the window
        self.sent_total = 0
        self.misrouted = 0
        self.malformed = 0
        self.ack_failures = 0
        self.timeouts = 0
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []

    def inside(self, t: int) -> bool:
        return self.window_start <= t < self.window_end

    def failed(self, what: str, detail: str) -> None:
        self.errors[what] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{what}: {detail[:300]}")

    def check_ack(self, event: str, ack: Any) -> None:
        if not is_ok(ack):
            self.ack_failures += 1
            self.failed(f"{event} ack {error_code(ack)}", repr(ack))

    def receiver(self, case_id: str) -> Callable[[Any], None]:
        def on_signal(data: Any) -> None:
            now = time.monotonic_ns()
            self.received_total += 1
            try:
                t0 = sent_at(data["description"]["sdp"])
            except (KeyError, TypeError, ValueError):
                self.malformed += 1
                return
            if data.get("case_id") != case_id:
                self.misrouted += 1
                return
            if self.window_start <= now < self.window_end:
                self.received += 1
                self.latencies.append(now - t0)
                if self.send_times is not None:
                    self.send_times.append(t0)

        return on_signal


async def sleep_until(t_ns: int) -> None:
    await asyncio.sleep(max(0.0, (t_ns - time.monotonic_ns()) / 1e9))


class Generator:
    def __init__(self, cfg: GenConfig, conn: Connection, lock: Any) -> None:
        self.cfg = cfg
        self.conn = conn
        self.lock = lock
        self.session: aiohttp.ClientSession | None = None
        self.pairs: list[Pair] = []
        self.sdp = SdpMaker(cfg.payload_bytes)

    def client(self, namespace: str) -> Client:
        if self.cfg.client == "sio":
            return SioClient(self.cfg.base_url, namespace)
        assert self.session is not None
        return LeanClient(self.session, self.cfg.base_url, namespace)

    # ---- set-up ---------------------------------------------------------

    async def setup(self) -> None:
        cfg = self.cfg
        for i in range(cfg.pairs):
            # 19 characters, like our case ids, so the payloads of both servers are the same size.
            name = f"RVW2000{cfg.index:02d}{i:04d}{'B' if cfg.kind == 'bare' else 'O'}{cfg.mode[0].upper()}XXXX"
            self.pairs.append(Pair(name=name[:19], clerk=self.client("/clerk"), citizen=self.client("/citizen")))
        if cfg.kind == "bare":
            await asyncio.gather(*(self._connect_bare(p) for p in self.pairs))
            return
        if len(cfg.clerk_tokens) < cfg.pairs:
            raise RuntimeError(f"{cfg.pairs} pairs need {cfg.pairs} clerk tokens, got {len(cfg.clerk_tokens)}")
        offers: dict[str, asyncio.Queue[Any]] = {}
        for pair in self.pairs:
            queue: asyncio.Queue[Any] = asyncio.Queue()
            offers[pair.name] = queue
            pair.clerk.on("offer", queue.put_nowait)
        await asyncio.gather(*(self._connect_ours(p, t) for p, t in zip(self.pairs, cfg.clerk_tokens, strict=False)))
        for pair in self.pairs:
            # One clerk available at a time in the whole run (the lock is shared by every generator), so the
            # router can only offer this citizen's request to this clerk.
            await asyncio.to_thread(self.lock.acquire)
            try:
                await self._pair_ours(pair, offers[pair.name])
            finally:
                self.lock.release()

    async def _connect_bare(self, pair: Pair) -> None:
        pair.case_id = pair.name
        await pair.clerk.connect({"pair": pair.name})
        await pair.citizen.connect({"pair": pair.name})

    async def _connect_ours(self, pair: Pair, token: str) -> None:
        await pair.clerk.connect({"token": token})
        await pair.citizen.connect({"channel": "web", "region": self.cfg.citizen_region})

    async def _pair_ours(self, pair: Pair, offers: asyncio.Queue[Any]) -> None:
        cfg = self.cfg
        ack = await pair.clerk.call("set_status", {"status": "available"}, CALL_TIMEOUT_S)
        if not is_ok(ack):
            raise RuntimeError(f"set_status refused: {ack!r}")
        ack = await pair.citizen.call(
            "request_help", {"matter_code": cfg.matter_code, "target_region": cfg.target_region}, CALL_TIMEOUT_S
        )
        if not is_ok(ack):
            raise RuntimeError(f"request_help refused: {ack!r}")
        ticket_id = ack["ticket_id"]
        async with asyncio.timeout(CALL_TIMEOUT_S):
            while True:
                offer = await offers.get()
                if isinstance(offer, dict) and offer.get("ticket_id") == ticket_id:
                    break
        ack = await pair.clerk.call("accept", {"ticket_id": ticket_id}, CALL_TIMEOUT_S)
        if not is_ok(ack) or not ack.get("case_id"):
            raise RuntimeError(f"accept refused: {ack!r}")
        pair.case_id = ack["case_id"]

    async def teardown(self) -> list[str]:
        problems: list[str] = []
        if self.cfg.kind == "ours":
            # End the cases as a console would, so the server's records close cleanly.
            async def end(pair: Pair) -> None:
                if not pair.case_id:
                    return
                try:
                    ack = await pair.clerk.call(
                        "end_case", {"case_id": pair.case_id, "outcome": "resolved", "notes": "benchmark"}
                    )
                    if not is_ok(ack):
                        problems.append(f"end_case {pair.case_id}: {ack!r:.200}")
                except (TimeoutError, ConnectionError) as exc:
                    problems.append(f"end_case {pair.case_id}: {exc!r}")

            await asyncio.gather(*(end(p) for p in self.pairs))
        await asyncio.gather(
            *(c.close() for p in self.pairs for c in (p.clerk, p.citizen)),
            return_exceptions=True,
        )
        return problems

    # ---- measurement ----------------------------------------------------

    async def _send_loop(
        self, client: Client, case_id: str, sdp_type: str, tally: Tally, end_ns: int, first_ns: int = 0
    ) -> None:
        seq = 0
        step_ns = int(self.cfg.interval_s * 1e9)
        next_ns = first_ns
        while True:
            if step_ns:
                await sleep_until(next_ns)
                # A client that fell behind sends at once, without a burst to catch up.
                next_ns = max(next_ns + step_ns, time.monotonic_ns())
            t0 = time.monotonic_ns()
            if t0 >= end_ns:
                return
            seq += 1
            message = {"case_id": case_id, "description": {"type": sdp_type, "sdp": self.sdp(t0, seq)}}
            tally.sent_total += 1
            if tally.inside(t0):
                tally.sent += 1
            try:
                ack = await client.call("signal", message, CALL_TIMEOUT_S)
            except TimeoutError:
                tally.timeouts += 1
                tally.failed("signal ack timeout", f"{client.namespace} {case_id}")
                continue
            except ConnectionError as exc:
                tally.failed("connection lost", f"{client.namespace} {case_id}: {exc}")
                return
            if not is_ok(ack):
                tally.check_ack("signal", ack)

    async def concurrent(self, tally: Tally, start_ns: int) -> None:
        for pair in self.pairs:
            pair.clerk.on("signal", tally.receiver(pair.case_id))
            pair.citizen.on("signal", tally.receiver(pair.case_id))
        await sleep_until(start_ns)
        spread = random.Random(self.cfg.index)
        step_ns = int(self.cfg.interval_s * 1e9)

        def first() -> int:
            return start_ns + spread.randrange(step_ns) if step_ns else 0

        senders = []
        for pair in self.pairs:
            senders.append(self._send_loop(pair.clerk, pair.case_id, "offer", tally, tally.window_end, first()))
            senders.append(self._send_loop(pair.citizen, pair.case_id, "answer", tally, tally.window_end, first()))
        await asyncio.gather(*senders)
        await asyncio.sleep(0.2)  # let the last relays arrive (they fall outside the window anyway)

    async def sequential(self, tally: Tally, start_ns: int) -> None:
        pair = self.pairs[0]
        loop = asyncio.get_running_loop()
        echoes: set[asyncio.Task[None]] = set()
        waiting: list[asyncio.Future[int]] = []

        async def echo(data: dict[str, Any]) -> None:
            reply = {"case_id": pair.case_id, "description": {"type": "answer", "sdp": data["description"]["sdp"]}}
            try:
                tally.check_ack("signal", await pair.citizen.call("signal", reply, CALL_TIMEOUT_S))
            except TimeoutError:
                tally.timeouts += 1
                tally.failed("signal ack timeout", "citizen echo")

        def citizen_got(data: Any) -> None:
            tally.received_total += 1
            if not isinstance(data, dict) or data.get("case_id") != pair.case_id:
                tally.misrouted += 1
                return
            task = loop.create_task(echo(data))
            echoes.add(task)
            task.add_done_callback(echoes.discard)

        def clerk_got(data: Any) -> None:
            now = time.monotonic_ns()
            tally.received_total += 1
            if waiting and not waiting[0].done():
                waiting[0].set_result(now)

        pair.citizen.on("signal", citizen_got)
        pair.clerk.on("signal", clerk_got)
        await sleep_until(start_ns)
        seq = 0
        while True:
            t0 = time.monotonic_ns()
            if t0 >= tally.window_end:
                break
            seq += 1
            fut: asyncio.Future[int] = loop.create_future()
            waiting[:] = [fut]
            message = {"case_id": pair.case_id, "description": {"type": "offer", "sdp": self.sdp(t0, seq)}}
            tally.sent_total += 1
            try:
                tally.check_ack("signal", await pair.clerk.call("signal", message, CALL_TIMEOUT_S))
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    t1 = await fut
            except TimeoutError:
                tally.timeouts += 1
                tally.failed("round trip timeout", f"seq {seq}")
                continue
            if tally.inside(t0):
                tally.sent += 1
                tally.received += 1  # round trips started inside the window
                tally.latencies.append(t1 - t0)
        await asyncio.gather(*echoes, return_exceptions=True)

    # ---- the process ----------------------------------------------------

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.session = session
            try:
                await self.setup()
            except Exception:
                self.conn.send(("error", f"generator {self.cfg.index} set-up failed:\n{traceback.format_exc()}"))
                await self.teardown()
                return
            self.conn.send(("ready", {"pairs": len(self.pairs)}))
            order = await asyncio.to_thread(self.conn.recv)
            if order[0] != "go":
                await self.teardown()
                return
            _, start_ns, window_start, window_end = order
            tally = Tally(window_start, window_end, self.cfg.keep_send_times)
            cpu: list[float] = []

            async def sample_cpu() -> None:
                await sleep_until(window_start)
                cpu.append(time.process_time())
                await sleep_until(window_end)
                cpu.append(time.process_time())

            sampler = asyncio.get_running_loop().create_task(sample_cpu())
            if self.cfg.mode == "sequential":
                await self.sequential(tally, start_ns)
            else:
                await self.concurrent(tally, start_ns)
            await sampler
            problems = await self.teardown()
            self.conn.send(
                (
                    "result",
                    {
                        "index": self.cfg.index,
                        "pairs": len(self.pairs),
                        "received": tally.received,
                        "received_total": tally.received_total,
                        "sent": tally.sent,
                        "sent_total": tally.sent_total,
                        "latencies_ns": tally.latencies.tobytes(),
                        "send_times_ns": tally.send_times.tobytes() if tally.send_times is not None else None,
                        "misrouted": tally.misrouted,
                        "malformed": tally.malformed,
                        "ack_failures": tally.ack_failures,
                        "timeouts": tally.timeouts,
                        "errors": dict(tally.errors),
                        "error_samples": tally.samples,
                        "teardown_problems": problems,
                        "client_cpu_s": cpu[1] - cpu[0] if len(cpu) == 2 else None,
                    },
                )
            )


def generator_main(cfg: GenConfig, conn: Connection, lock: Any) -> None:
    """The entry point of a generator process."""
    try:
        asyncio.run(Generator(cfg, conn, lock).run())
    except Exception:
        conn.send(("error", f"generator {cfg.index} failed:\n{traceback.format_exc()}"))
    finally:
        conn.close()
