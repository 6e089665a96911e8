"""The clerk's side of the queue benchmark: pairings, one after another, timed at the clerk.

One clerk logs in (``POST /api/auth/login``), connects to ``/clerk`` with auth ``{"token"}`` and goes available;
each pairing then is: the offer arrives, the clerk accepts it (the ack carries the case id), ends the case
(``end_case``), and the next offer arrives. Measured: ``end_case`` sent → next ``offer`` received, on the
clerk's own clock; also the accept's ack. Every step is bounded by a time-out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .servers import PASSWORD
from .wire import LeanClient

STEP_TIMEOUT_S = 30.0


@dataclass
class Pairings:
    node: str
    waiting_before: int
    first_offer_ms: float | None = None
    end_to_offer_ms: list[float] = field(default_factory=list)
    accept_ack_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "waiting_before": self.waiting_before,
            "first_offer_ms": self.first_offer_ms,
            "end_to_offer_ms": self.end_to_offer_ms,
            "accept_ack_ms": self.accept_ack_ms,
            "errors": self.errors,
        }


async def login(base_url: str, username: str) -> str:
    timeout = aiohttp.ClientTimeout(total=STEP_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(f"{base_url}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp,
    ):
        body: Any = await resp.json()
        if resp.status != 200 or not isinstance(body, dict) or "token" not in body:
            raise RuntimeError(f"log-in of {username} failed: HTTP {resp.status} {body!r:.300}")
        return str(body["token"])


def _ok(ack: Any) -> bool:
    return isinstance(ack, dict) and ack.get("ok") is True


async def pair(base_url: str, username: str, count: int, waiting_before: int, node: str = "") -> Pairings:
    """``count`` pairings by one clerk on the node at ``base_url``; the clerk goes on break afterwards."""
    out = Pairings(node=node or base_url, waiting_before=waiting_before)
    token = await login(base_url, username)
    offers: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()

    def on_offer(data: Any) -> None:
        if isinstance(data, dict):
            offers.put_nowait((time.monotonic_ns(), data))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clerk = LeanClient(session, base_url, "/clerk")
        clerk.on("offer", on_offer)
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                await clerk.connect({"token": token}, STEP_TIMEOUT_S)
            t0 = time.monotonic_ns()
            ack = await clerk.call("set_status", {"status": "available"}, STEP_TIMEOUT_S)
            if not _ok(ack):
                raise RuntimeError(f"set_status refused: {ack!r:.200}")
            async with asyncio.timeout(STEP_TIMEOUT_S):
                at, offer = await offers.get()
            out.first_offer_ms = (at - t0) / 1e6
            for _ in range(count):
                ticket_id = offer["ticket_id"]
                t0 = time.monotonic_ns()
                ack = await clerk.call("accept", {"ticket_id": ticket_id}, STEP_TIMEOUT_S)
                out.accept_ack_ms.append((time.monotonic_ns() - t0) / 1e6)
                if not _ok(ack) or not ack.get("case_id"):
                    raise RuntimeError(f"accept refused: {ack!r:.200}")
                t0 = time.monotonic_ns()
                ack = await clerk.call(
                    "end_case", {"case_id": ack["case_id"], "outcome": "resolved", "notes": "bench"}, STEP_TIMEOUT_S
                )
                if not _ok(ack):
                    raise RuntimeError(f"end_case refused: {ack!r:.200}")
                async with asyncio.timeout(STEP_TIMEOUT_S):
                    while True:
                        at, offer = await offers.get()
                        if offer.get("ticket_id") != ticket_id:
                            break
                out.end_to_offer_ms.append((at - t0) / 1e6)
            ack = await clerk.call("set_status", {"status": "break"}, STEP_TIMEOUT_S)
            if not _ok(ack):
                out.errors.append(f"set_status break refused: {ack!r:.200}")
        except Exception as exc:
            out.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            await clerk.close()
    return out
