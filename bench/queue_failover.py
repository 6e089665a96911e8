"""Fail-over of the queue's writer on Redis: from SIGKILL of the writer to the first command the new one answers.

Two ``rvw serve`` nodes share one Redis prefix and one PostgreSQL database. The writer is the node named by
``GET <prefix>:lease`` ("node:epoch"; every node has its own ``RVW_NODE_ID``). A prober holds fresh web citizens
on the other node and sends ``request_help`` from one after another every ``interval_s`` (open loop: it does not
wait for answers), starting ``lead_s`` before the kill. The writer is killed with SIGKILL (no lease release, no
clean-up: a crash). Measured on one monotonic clock:

* **fail-over**: kill → the first acknowledgement of a request *sent after the kill* (only the new writer can
  have answered it);
* kill → the lease names another node (polled every 10 ms), and the first acknowledgement received after the
  kill of any request (those in flight at the kill wait and succeed);
* the slowest acknowledgement, and every request refused or unanswered (the aim: none).

Then a new node (a new node id) replaces the killed one, and the next round kills the new writer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from .queue_load import refusal_code
from .servers import ServerProcess
from .stores import REDIS_URL
from .wire import LeanClient

CALL_TIMEOUT_S = 45.0  # above the node's submit time-out (20 s): a request is refused by the server, not by us


async def lease_of(r: Any, prefix: str) -> tuple[str, int] | None:
    raw = await r.get(f"{prefix}:lease")
    if not raw:
        return None
    node, _, epoch = str(raw).rpartition(":")
    return node, int(epoch)


async def wait_for_writer(prefix: str, within_s: float = 30.0, not_node: str = "") -> tuple[str, int]:
    r = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            held = await lease_of(r, prefix)
            if held is not None and held[0] != not_node:
                return held
            await asyncio.sleep(0.05)
    finally:
        await r.aclose()
    raise RuntimeError(f"no node took the writer's lease of {prefix} within {within_s} s")


async def _connect_citizens(session: aiohttp.ClientSession, url: str, count: int) -> list[LeanClient]:
    clients: list[LeanClient] = []
    sem = asyncio.Semaphore(20)

    async def one() -> None:
        async with sem:
            c = LeanClient(session, url, "/citizen")
            async with asyncio.timeout(30):
                await c.connect({"channel": "web", "region": "320500"}, 30)
            clients.append(c)

    await asyncio.gather(*(one() for _ in range(count)))
    return clients


async def failover_round(
    prefix: str,
    nodes: dict[str, ServerProcess],
    *,
    citizens: int,
    interval_s: float,
    lead_s: float,
    after_s: float,
    max_s: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Kill the writer among ``nodes`` (node id → process) once; the prober talks to another node."""
    writer_id, epoch = await wait_for_writer(prefix)
    survivors = [n for n in nodes if n != writer_id]
    if writer_id not in nodes or not survivors:
        raise RuntimeError(f"the writer is {writer_id!r}, not one of {sorted(nodes)}")
    survivor = nodes[survivors[0]]
    r = aioredis.from_url(REDIS_URL, decode_responses=True)
    sends: list[tuple[int, int | None, str]] = []  # (sent ns, acked ns or None, "ok" or refusal code)
    out: dict[str, Any] = {"writer": writer_id, "epoch": epoch, "prober_on": survivors[0]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = await _connect_citizens(session, survivor.base_url, citizens)
        body = {"matter_code": "SB-ZY-001", "target_region": "310000"}
        kill_ns: int | None = None
        first_after: int | None = None
        tasks: set[asyncio.Task[None]] = set()

        async def ask(c: LeanClient) -> None:
            sent = time.monotonic_ns()
            acked: int | None = None
            code = "?"
            try:
                ack = await c.call("request_help", body, CALL_TIMEOUT_S)
                acked = time.monotonic_ns()
                error = ack.get("error") if isinstance(ack, dict) else None
                if isinstance(ack, dict) and ack.get("ok") is True:
                    code = "ok"
                else:
                    code = str(error.get("code")) if isinstance(error, dict) else "malformed"
            except Exception as exc:
                code = refusal_code(exc)
            sends.append((sent, acked, code))

        async def watch_lease(since: int) -> None:
            while True:
                held = await lease_of(r, prefix)
                if held is not None and held[0] != writer_id:
                    out["lease_taken_s"] = (time.monotonic_ns() - since) / 1e9
                    out["new_writer"], out["new_epoch"] = held
                    return
                await asyncio.sleep(0.01)

        watcher: asyncio.Task[None] | None = None
        began = time.monotonic()
        try:
            for c in clients:
                now = time.monotonic()
                if kill_ns is None and now - began >= lead_s:
                    kill_ns = time.monotonic_ns()
                    nodes[writer_id].kill()
                    log(f"killed the writer {writer_id} (SIGKILL); prober on {survivors[0]}")
                    watcher = asyncio.get_running_loop().create_task(watch_lease(kill_ns))
                if kill_ns is not None:
                    answered = [a for s, a, code in sends if s >= kill_ns and a is not None and code == "ok"]
                    if answered and first_after is None:
                        first_after = min(answered)
                    if first_after is not None and time.monotonic_ns() - first_after >= after_s * 1e9:
                        break
                    if time.monotonic_ns() - kill_ns >= max_s * 1e9:
                        break
                task = asyncio.get_running_loop().create_task(ask(c))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(interval_s)
            if tasks:
                await asyncio.wait(list(tasks), timeout=CALL_TIMEOUT_S + 5)
            if watcher is not None:
                try:
                    await asyncio.wait_for(watcher, 30)
                except TimeoutError:
                    out["lease_taken_s"] = None
        finally:
            for t in list(tasks):
                t.cancel()
            if watcher is not None:
                watcher.cancel()
            await asyncio.gather(*tasks, *([watcher] if watcher else []), return_exceptions=True)
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            await r.aclose()
    if kill_ns is None:
        raise RuntimeError("the prober ran out of citizens before the kill")
    codes = Counter(code for _, _, code in sends)
    after = sorted(a for s, a, code in sends if s >= kill_ns and a is not None and code == "ok")
    any_after = sorted(a for s, a, code in sends if a is not None and a >= kill_ns and code == "ok")
    acks = [(a - s) / 1e6 for s, a, code in sends if a is not None and code == "ok"]
    out.update(
        {
            "failover_s": (after[0] - kill_ns) / 1e9 if after else None,
            "first_ack_after_kill_s": (any_after[0] - kill_ns) / 1e9 if any_after else None,
            "requests": len(sends),
            "sent_before_kill": sum(1 for s, _, _ in sends if s < kill_ns),
            "answered": codes.get("ok", 0),
            "refused": {k: v for k, v in codes.items() if k != "ok"},
            "max_ack_ms": max(acks) if acks else None,
            "interval_s": interval_s,
        }
    )
    return out
