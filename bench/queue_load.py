"""A citizen load generator process for the queue benchmark (bench.queue).

It holds ``citizens`` web citizens (``/citizen`` with auth ``{"channel": "web", "region"}``), each connected to
one of the server nodes (citizen ``j`` to ``urls[j % len(urls)]``), and does what the parent tells it over a pipe:

    child -> parent  ("ready", {})                          its HTTP session is open, nothing connected yet
    parent -> child  ("connect", start_ns)                  connect every citizen, ``connect_concurrency`` at a time
    child -> parent  ("connected", {...})
    parent -> child  ("request", start_ns)                  the first ``requests`` connected citizens send
    child -> parent  ("requested", {...})                   request_help, ``request_concurrency`` in flight
    parent -> child  ("stop",)                              close every connection, report, exit
    child -> parent  ("closed", {...})

Between "requested" and "stop" the citizens stay connected and waiting (the parent measures pairings meanwhile).
Times are ``time.monotonic_ns()``, one clock for every process on the machine, so the parent can put the
generators' first start and last finish on one time line.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from .wire import ConnectFailed, LeanClient

STOP_WAIT_S = 3600.0  # the parent always sends "stop" well before; this only bounds a lost parent


@dataclass
class CitizenConfig:
    index: int
    urls: list[str]
    citizens: int
    requests: int
    connect_concurrency: int
    request_concurrency: int
    region: str = "320500"
    target_region: str = "310000"
    matter_code: str = "SB-ZY-001"
    timeout_s: float = 30.0


class Phase:
    """What one phase (connect or request) saw in this process."""

    def __init__(self) -> None:
        self.latencies = array("q")  # ns, successful operations
        self.ok = 0
        self.refused: Counter[str] = Counter()
        self.samples: list[str] = []
        self.first_start = 0
        self.last_end = 0
        self.cpu_s = 0.0  # this process's CPU over the phase

    def refuse(self, code: str, detail: str) -> None:
        self.refused[code] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{code}: {detail[:200]}")

    def report(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "refused": dict(self.refused),
            "samples": self.samples,
            "latencies_ns": self.latencies.tobytes(),
            "first_start_ns": self.first_start,
            "last_end_ns": self.last_end,
            "cpu_s": self.cpu_s,
        }


async def run_bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    """``one(i)`` for i in range(count), at most ``concurrency`` at a time."""
    indices: Iterator[int] = iter(range(count))

    async def worker() -> None:
        for i in indices:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))


def refusal_code(exc: BaseException) -> str:
    if isinstance(exc, ConnectFailed):
        data = exc.data
        if isinstance(data, dict):
            return str(data.get("code") or (data.get("data") or {}).get("code") or "refused")
        return "transport"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError | aiohttp.ClientError | OSError):
        return "connection_error"
    return type(exc).__name__


class CitizenGenerator:
    def __init__(self, cfg: CitizenConfig, conn: Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self.clients: list[LeanClient | None] = [None] * cfg.citizens
        self.received: Counter[str] = Counter()

    def _counter(self, event: str) -> Callable[[Any], None]:
        def seen(_data: Any) -> None:
            self.received[event] += 1

        return seen

    async def connect_all(self, session: aiohttp.ClientSession, start_ns: int) -> Phase:
        cfg = self.cfg
        phase = Phase()
        await asyncio.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        phase.first_start = time.monotonic_ns()
        cpu0 = time.process_time()

        async def one(i: int) -> None:
            client = LeanClient(session, cfg.urls[i % len(cfg.urls)], "/citizen")
            for event in ("queue_update", "offer", "matched", "case_ended", "session"):
                client.on(event, self._counter(event))
            t0 = time.monotonic_ns()
            try:
                async with asyncio.timeout(cfg.timeout_s):  # the WebSocket handshake too, not only the namespace
                    await client.connect({"channel": "web", "region": cfg.region}, cfg.timeout_s)
            except Exception as exc:
                phase.refuse(refusal_code(exc), repr(exc))
                await client.close()
                return
            finally:
                phase.last_end = max(phase.last_end, time.monotonic_ns())
            phase.latencies.append(time.monotonic_ns() - t0)
            phase.ok += 1
            self.clients[i] = client

        await run_bounded(cfg.citizens, cfg.connect_concurrency, one)
        phase.cpu_s = time.process_time() - cpu0
        return phase

    async def request_all(self, start_ns: int) -> Phase:
        cfg = self.cfg
        phase = Phase()
        askers = [c for c in self.clients if c is not None][: cfg.requests]
        await asyncio.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        phase.first_start = time.monotonic_ns()
        cpu0 = time.process_time()
        body = {"matter_code": cfg.matter_code, "target_region": cfg.target_region}

        async def one(i: int) -> None:
            t0 = time.monotonic_ns()
            try:
                ack = await askers[i].call("request_help", body, cfg.timeout_s)
            except Exception as exc:
                phase.refuse(refusal_code(exc), repr(exc))
                return
            finally:
                phase.last_end = max(phase.last_end, time.monotonic_ns())
            if isinstance(ack, dict) and ack.get("ok") is True and ack.get("ticket_id"):
                phase.latencies.append(time.monotonic_ns() - t0)
                phase.ok += 1
            else:
                error = ack.get("error") if isinstance(ack, dict) else None
                code = str(error.get("code")) if isinstance(error, dict) else "malformed"
                phase.refuse(code, repr(ack))

        await run_bounded(len(askers), cfg.request_concurrency, one)
        phase.cpu_s = time.process_time() - cpu0
        return phase

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients if c is not None), return_exceptions=True)

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.conn.send(("ready", {}))
            try:
                while True:
                    order = await asyncio.to_thread(self._recv)
                    if order[0] == "connect":
                        phase = await self.connect_all(session, order[1])
                        self.conn.send(("connected", phase.report()))
                    elif order[0] == "request":
                        phase = await self.request_all(order[1])
                        self.conn.send(("requested", phase.report()))
                    else:
                        break
            finally:
                await self.close_all()
        self.conn.send(("closed", {"received": dict(self.received), "cpu_s": time.process_time()}))

    def _recv(self) -> Any:
        if not self.conn.poll(STOP_WAIT_S):
            return ("stop",)
        return self.conn.recv()


def citizens_main(cfg: CitizenConfig, conn: Connection) -> None:
    """The entry point of a generator process."""
    try:
        asyncio.run(CitizenGenerator(cfg, conn).run())
    except Exception:
        conn.send(("error", f"citizen generator {cfg.index} failed:\n{traceback.format_exc()}"))
    finally:
        conn.close()
