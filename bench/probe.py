"""The security probe, again: each attack it reported, re-run against `rvw serve --demo`, old figure beside today's.

    python -m bench.probe [--keep-log PATH]

Starts ``.venv/bin/rvw serve --demo`` on a free port of 127.0.0.1, with its database in a temporary
``RVW_VAR_DIR`` and ``RVW_TRUSTED_PROXIES=127.0.0.1`` (so that the probe can stand in for many client
addresses with ``X-Forwarded-For`` where a finding needs them), everything else at its defaults. Then
one async function per finding re-runs the attack the way the probe described it, and a Markdown table
of finding, old figure and figure now is printed (docs/security.md, "Measured against the probe").
Everything talks to 127.0.0.1 only (and 127.0.0.2-4 as other source addresses of the loopback).
It takes two to three minutes, most of it waiting for deliberate time-outs and for password checks,
which argon2 makes slow on purpose and the server runs one fewer at once than the machine has cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "rvw-demo-2026"
KIOSK_TOKEN = "k_demo_suzhou_320500"
MATTER = "SB-ZY-001"
SERVED = "310000"  # clerk_sh's province: the probe's own cases are answered there
UNSERVED = "340000"  # Anhui: no clerk on shift, so flood requests only wait
WEB_REGION = "320500"  # where the probe's web citizens say they are
CALL_S = 10.0
MiB = 1024 * 1024

Row = tuple[str, str, str]  # finding, old figure, figure now
Finding = Callable[["Probe"], Awaitable[list[Row]]]


# ---- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rvw_command() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "rvw"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli"]


class Server:
    """`rvw serve --demo` in its own process; standard output and error go to one log file."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = var_dir / "server.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RVW_")}
        env.update({"RVW_VAR_DIR": str(self.var_dir), "RVW_TRUSTED_PROXIES": "127.0.0.1", "PYTHONUNBUFFERED": "1"})
        cmd = [*rvw_command(), "serve", "--demo", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=self.var_dir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"rvw serve exited with {self.proc.returncode}:\n{self.log_text()[-2000:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"rvw serve did not answer /healthz within {within} s:\n{self.log_text()[-2000:]}")

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # drains within RVW_DRAIN_SECONDS (8 s)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_text(self, since: int = 0) -> str:
        with self.log_path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")


# ---- clients ------------------------------------------------------------------------------


def xff(address: str | None) -> dict[str, str]:
    """Stand in for ``address`` through the trusted proxy (127.0.0.1)."""
    return {"X-Forwarded-For": address} if address else {}


def web_auth() -> dict[str, str]:
    return {"channel": "web", "region": WEB_REGION}


def code(ack: Any) -> str:
    """An ack's outcome in one word: ok, or its error code."""
    if isinstance(ack, dict) and ack.get("ok") is True:
        return "ok"
    if isinstance(ack, dict) and isinstance(ack.get("error"), dict):
        return str(ack["error"].get("code"))
    return repr(ack)[:40]


def counts(c: Counter[str]) -> str:
    return ", ".join(f"{n} {what}" for what, n in c.most_common()) or "none"


class Peer:
    """A python-socketio client on one namespace that keeps every event it is sent."""

    def __init__(self, p: Probe, namespace: str = "/citizen", address: str | None = None) -> None:
        self.p = p
        self.namespace = namespace
        self.headers = xff(address)
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: defaultdict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.names: list[str] = []
        self.refused: dict[str, Any] | None = None
        self.gone = asyncio.Event()
        self.sio.on("*", self._event, namespace=namespace)
        self.sio.on("connect_error", self._refused, namespace=namespace)
        self.sio.on("disconnect", self._disconnected, namespace=namespace)

    async def _event(self, event: str, *args: Any) -> None:
        self.names.append(event)
        self.inbox[event].put_nowait(args[0] if args else None)

    async def _refused(self, data: Any = None) -> None:
        self.refused = data if isinstance(data, dict) else {"message": data}

    async def _disconnected(self, *_reason: Any) -> None:
        self.gone.set()

    async def connect(self, auth: dict[str, Any]) -> bool:
        try:
            await self.sio.connect(
                self.p.server.base,
                namespaces=[self.namespace],
                auth=auth,
                transports=["websocket"],
                headers=self.headers,
                wait_timeout=CALL_S,
            )
        except socketio.exceptions.ConnectionError:
            await self.close()
            return False
        return True

    @property
    def refusal(self) -> str:
        data = self.refused or {}
        return str(data.get("code") or (data.get("data") or {}).get("code") or data.get("message") or "refused")

    async def call(self, event: str, data: dict[str, Any]) -> Any:
        try:
            return await self.sio.call(event, data, namespace=self.namespace, timeout=CALL_S)
        except socketio.exceptions.TimeoutError:
            return {"ok": False, "error": {"code": "no answer"}}
        except socketio.exceptions.SocketIOError as exc:
            return {"ok": False, "error": {"code": f"disconnected ({type(exc).__name__})"}}

    async def wait_for(self, event: str, within: float = CALL_S) -> Any:
        return await asyncio.wait_for(self.inbox[event].get(), within)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


class Probe:
    """What the findings share: the server, an HTTP client, log-ins, and a clerk on duty."""

    def __init__(self, server: Server, http: aiohttp.ClientSession) -> None:
        self.server = server
        self.http = http
        self.tokens: dict[str, str] = {}
        self._clerk: Peer | None = None

    def url(self, path: str) -> str:
        return f"{self.server.base}{path}"

    async def login(
        self, username: str, password: str = PASSWORD, address: str | None = None
    ) -> tuple[int, str | None, float]:
        """(status, token, seconds) of one log-in."""
        began = time.monotonic()
        async with self.http.post(
            self.url("/api/auth/login"), json={"username": username, "password": password}, headers=xff(address)
        ) as resp:
            body = await resp.json(content_type=None) if resp.status == 200 else None
            return resp.status, (body or {}).get("token"), time.monotonic() - began

    async def token(self, username: str) -> str:
        if username not in self.tokens:
            status, token, _ = await self.login(username)
            if token is None:
                raise RuntimeError(f"log-in as {username} answered {status}")
            self.tokens[username] = token
        return self.tokens[username]

    async def get_json(self, path: str, username: str) -> Any:
        headers = {"Authorization": f"Bearer {await self.token(username)}"}
        async with self.http.get(self.url(path), headers=headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def today(self) -> dict[str, Any]:
        """The wall's "today" figures (GET /api/dashboard as the demo supervisor)."""
        return dict((await self.get_json("/api/dashboard", "supervisor"))["today"])

    async def case(self, case_id: str) -> dict[str, Any]:
        """A case record, as the demo auditor reads it."""
        return dict(await self.get_json(f"/api/cases/{case_id}", "auditor"))

    async def clerk(self) -> Peer:
        """clerk_sh (Shanghai, every skill), connected to /clerk and available."""
        if self._clerk is None:
            clerk = Peer(self, "/clerk")
            if not await clerk.connect({"token": await self.token("clerk_sh")}):
                raise RuntimeError(f"clerk_sh could not connect: {clerk.refused}")
            ack = await clerk.call("set_status", {"status": "available"})
            if code(ack) != "ok":
                raise RuntimeError(f"clerk_sh could not go available: {ack}")
            self._clerk = clerk
        return self._clerk

    async def serve_case(self, citizen: Peer) -> tuple[str, str]:
        """The citizen asks for help in Shanghai and clerk_sh answers; (ticket id, case id)."""
        ack = await citizen.call("request_help", {"matter_code": MATTER, "target_region": SERVED})
        if code(ack) != "ok":
            raise RuntimeError(f"request_help answered {ack}")
        clerk = await self.clerk()
        offer = await clerk.wait_for("offer")
        accepted = await clerk.call("accept", {"ticket_id": offer["ticket_id"]})
        if code(accepted) != "ok" or offer["ticket_id"] != ack["ticket_id"]:
            raise RuntimeError(f"the clerk's offer {offer} / accept {accepted} is not the citizen's {ack}")
        matched = await citizen.wait_for("matched")
        return str(ack["ticket_id"]), str(matched["case_id"])

    async def end_case(self, case_id: str) -> None:
        clerk = await self.clerk()
        await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved"})

    async def close(self) -> None:
        if self._clerk is not None:
            await self._clerk.close()


async def raw_citizen(p: Probe, address: str, namespace: bool = True) -> aiohttp.ClientWebSocketResponse:
    """A web citizen spoken to in raw Engine.IO/Socket.IO frames over aiohttp's WebSocket client
    (with ``namespace`` False, only the Engine.IO session is opened)."""
    url = f"ws://127.0.0.1:{p.server.port}/socket.io/?EIO=4&transport=websocket"
    ws = await p.http.ws_connect(url, headers=xff(address), max_msg_size=0)
    opened = await ws.receive(timeout=CALL_S)
    if not str(opened.data).startswith("0"):
        raise RuntimeError(f"no Engine.IO open packet: {opened}")
    if not namespace:
        return ws
    await ws.send_str("40/citizen," + json.dumps(web_auth()))
    while True:
        msg = await ws.receive(timeout=CALL_S)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"the namespace connect failed: {msg}")
        if str(msg.data).startswith("40/citizen,"):
            return ws
        if str(msg.data).startswith("44/citizen,"):
            raise RuntimeError(f"the namespace connect was refused: {msg.data}")


@dataclass
class Flooded:
    """What a flood on a raw WebSocket came to; times in seconds from its start."""

    sent: int
    seconds: float  # spent sending
    session_closed: float | None  # the server's Engine.IO close packet ("1")
    ws_closed: float | None  # the WebSocket itself

    def closed(self) -> str:
        if self.ws_closed is not None and (self.session_closed is None or self.ws_closed <= self.session_closed):
            return f"connection closed after {self.ws_closed * 1000:.0f} ms"
        if self.session_closed is not None:
            after = "WebSocket left open" if self.ws_closed is None else f"WebSocket {self.ws_closed * 1000:.0f} ms"
            return f"session closed after {self.session_closed * 1000:.0f} ms ({after})"
        return "connection stayed open"


async def flood(
    ws: aiohttp.ClientWebSocketResponse, frame: str | bytes, seconds: float, barrier_every: int = 0
) -> Flooded:
    """Send ``frame`` as fast as the socket takes it for ``seconds`` (at least once), then close.

    With ``barrier_every``, after that many frames an acknowledged event is sent and its ack awaited
    (while the session is open), so that what was sent is what the server has handled: the log
    measured is the server's sustained rate, not a backlog it works through after the probe moved on."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    session_closed: float | None = None
    ws_closed: float | None = None
    answered = asyncio.Event()  # an ack came, or the session was closed

    async def read() -> None:
        nonlocal session_closed, ws_closed
        with contextlib.suppress(Exception):
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "1" and session_closed is None:
                    session_closed = loop.time() - began
                    answered.set()
                elif msg.type == aiohttp.WSMsgType.TEXT and str(msg.data).startswith("43/citizen,"):
                    answered.set()
        ws_closed = loop.time() - began

    reader = asyncio.ensure_future(read())
    sent = 0
    while ws_closed is None and (sent == 0 or loop.time() - began < seconds):
        try:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
            sent += 1
            if barrier_every and sent % barrier_every == 0 and session_closed is None:
                answered.clear()
                await ws.send_str(f'42/citizen,{sent}["cancel",{{"ticket_id":"T00000000"}}]')
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(answered.wait(), 5)
            elif sent % 16 == 0:
                await asyncio.sleep(0)  # let a close be read
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            break
    sending = loop.time() - began
    await asyncio.wait({reader}, timeout=0.5)
    reader.cancel()
    await ws.close()
    return Flooded(sent, sending, session_closed, ws_closed)


async def settled_log(p: Probe, start: int, within: float = 15.0) -> str:
    """The server's log since ``start`` once it has stopped growing (for 0.5 s; at most ``within`` s)."""
    size, quiet_since, began = p.server.log_size(), time.monotonic(), time.monotonic()
    while time.monotonic() - quiet_since < 0.5 and time.monotonic() - began < within:
        await asyncio.sleep(0.1)
        if p.server.log_size() != size:
            size, quiet_since = p.server.log_size(), time.monotonic()
    return p.server.log_text(start)


async def tcp_from(p: Probe, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", p.server.port, local_addr=(source, 0))


def is_closed(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bool:
    reader, writer = conn
    return reader.at_eof() or reader.exception() is not None or writer.transport.is_closing()


async def healthz_from(p: Probe, source: str, within: float = 10.0) -> float | None:
    """Seconds for GET /healthz on a new connection from ``source``; None if it timed out or failed."""
    began = time.monotonic()
    try:
        async with asyncio.timeout(within):
            reader, writer = await tcp_from(p, source)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            status = await reader.readline()
            writer.close()
    except (TimeoutError, OSError):
        return None
    return time.monotonic() - began if b" 200 " in status else None


def ms(seconds: float | None) -> str:
    return "timed out" if seconds is None else f"{seconds * 1000:.0f} ms"


def rate_of(today: dict[str, Any], key: str) -> str:
    value = today.get(key)
    return "none" if value is None else f"{value:.2f}"


# ---- the findings, one function each --------------------------------------------------------


async def f1_binary_attachments(p: Probe) -> list[Row]:
    """A binary event announcing many attachments, then 1 MiB binary frames, for 3.4 s.

    The frames are 64 bytes short of 1 MiB: a frame of 1 MiB itself is over the transport's packet
    limit and closes the connection on any python-socketio server, which would prove nothing (a bare
    python-socketio server takes 390 MiB in 3.4 s from frames just under it)."""
    ws = await raw_citizen(p, "10.1.0.1")
    before = peak = p.server.rss_kib()

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, p.server.rss_kib())
            await asyncio.sleep(0.05)

    sampler = asyncio.ensure_future(sample())
    await ws.send_str('4510000-/citizen,["request_help",{"_placeholder":true,"num":0}]')
    flooded = await flood(ws, bytes(MiB - 64), 3.4)
    await asyncio.sleep(0.5)
    sampler.cancel()
    grown = (peak - before) / 1024
    return [
        (
            "1. binary event announcing 10,000 attachments, then frames of 1 MiB − 64 B for 3.4 s (one connection)",
            "+200 MiB server RSS in 3.4 s",
            f"+{grown:.1f} MiB server RSS (peak); {flooded.closed()}; {flooded.sent} frames written by the probe",
        )
    ]


async def f2_rate_cancelled(p: Probe) -> list[Row]:
    """request_help → cancel → rate, 30 times in a row on one connection."""
    before = await p.today()
    c = Peer(p, address="10.2.0.1")
    if not await c.connect(web_auth()):
        raise RuntimeError(f"web citizen refused: {c.refusal}")
    requests: Counter[str] = Counter()
    ratings: Counter[str] = Counter()
    last_case = "RVW00000000000000"
    began = time.monotonic()
    for _ in range(30):
        ack = await c.call("request_help", {"matter_code": MATTER, "target_region": UNSERVED})
        requests[code(ack)] += 1
        if code(ack) == "ok":
            last_case = ack["case_id"]
            await c.call("cancel", {"ticket_id": ack["ticket_id"]})
        ratings[code(await c.call("rate", {"case_id": last_case, "level": 1, "comment": "probe"}))] += 1
    took = time.monotonic() - began
    await c.close()
    after = await p.today()
    return [
        (
            "2. request_help → cancel → rate ×30 on one connection",
            "30 of 30 ratings accepted; positive rate 0.5 → 0.03",
            f"{ratings['ok']} of 30 ratings accepted ({counts(ratings)}); requests: {counts(requests)}; "
            f"{took:.1f} s; positive rate {rate_of(before, 'positive_rate')} → {rate_of(after, 'positive_rate')}",
        )
    ]


async def f3_web_priority(p: Probe) -> list[Row]:
    """A web citizen asks for "priority" behind a citizen who asked earlier in normal order."""
    first, second = Peer(p, address="10.3.0.1"), Peer(p, address="10.3.0.2")
    for c in (first, second):
        if not await c.connect(web_auth()):
            raise RuntimeError(f"web citizen refused: {c.refusal}")
    normal = await first.call("request_help", {"matter_code": MATTER, "target_region": UNSERVED})
    asked = await second.call(
        "request_help", {"matter_code": MATTER, "target_region": UNSERVED, "priority": "priority"}
    )
    for c, ack in ((first, normal), (second, asked)):
        if code(ack) == "ok":
            await c.call("cancel", {"ticket_id": ack["ticket_id"]})
        await c.close()
    if code(asked) != "ok":
        return [("3. web citizen sends priority", "jumped the queue", f"request refused: {code(asked)}")]
    note = "with priority_note" if asked.get("priority_note") else "no priority_note"
    return [
        (
            '3. web citizen sends "priority": "priority"',
            "jumped the queue",
            f'ack priority "{asked.get("priority")}" ({note}); position {asked.get("position")}, '
            f"behind the earlier normal request at {normal.get('position')}",
        )
    ]


async def f4_web_floods(p: Probe) -> list[Row]:
    """Many web tickets from one address; request/cancel cycles on one connection; long waits cancelled."""
    rows: list[Row] = []

    # a) 300 tickets from one address, each from its own connection (closed after asking).
    gate = asyncio.Semaphore(20)
    tickets: Counter[str] = Counter()

    async def one() -> None:
        async with gate:
            c = Peer(p, address="10.4.0.1")
            if not await c.connect(web_auth()):
                tickets[f"connect {c.refusal}"] += 1
                return
            tickets[code(await c.call("request_help", {"matter_code": MATTER, "target_region": UNSERVED}))] += 1
            await c.close()

    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(300)))
    rows.append(
        (
            "4a. web tickets from one address",
            "300 of 300 accepted in 3.5 s",
            f"{tickets['ok']} of 300 accepted in {time.monotonic() - began:.1f} s ({counts(tickets)})",
        )
    )

    # b) 150 request/cancel cycles on one connection.
    c = Peer(p, address="10.4.1.1")
    if not await c.connect(web_auth()):
        raise RuntimeError(f"web citizen refused: {c.refusal}")
    cycles: Counter[str] = Counter()
    began = time.monotonic()
    for _ in range(150):
        ack = await c.call("request_help", {"matter_code": MATTER, "target_region": UNSERVED})
        cycles[code(ack)] += 1
        if code(ack) == "ok":
            await c.call("cancel", {"ticket_id": ack["ticket_id"]})
    await c.close()
    rows.append(
        (
            "4b. request/cancel cycles on one connection",
            "150 of 150 accepted in 1.3 s",
            f"{cycles['ok']} of 150 accepted in {time.monotonic() - began:.1f} s ({counts(cycles)})",
        )
    )

    # c) 20 requests from one address, each cancelled after 11.5 s (past the 10 s short abandon).
    before = await p.today()
    waiting = [Peer(p, address="10.4.2.1") for _ in range(20)]
    asked: list[tuple[Peer, Any]] = []
    for w in waiting:
        if await w.connect(web_auth()):
            asked.append((w, await w.call("request_help", {"matter_code": MATTER, "target_region": UNSERVED})))
    accepted = [(w, ack) for w, ack in asked if code(ack) == "ok"]
    await asyncio.sleep(11.5)
    for w, ack in accepted:
        await w.call("cancel", {"ticket_id": ack["ticket_id"]})
    for w in waiting:
        await w.close()
    await asyncio.sleep(1.0)  # the recorder writes the cancellations
    after = await p.today()
    rows.append(
        (
            "4c. 20 web requests from one address cancelled after 11.5 s",
            "20 accepted; wall's service level 1.0 → 0.13",
            f"{len(accepted)} of 20 accepted; wall's service level {rate_of(before, 'service_level')} → "
            f"{rate_of(after, 'service_level')} (answered {before.get('answered')}, "
            f"abandoned {before.get('abandoned')} → {after.get('abandoned')})",
        )
    )
    return rows


async def f5_login_throttle(p: Probe) -> list[Row]:
    """Wrong passwords at once, one guess sprayed over names, the right password elsewhere, a flood."""
    rows: list[Row] = []

    # a) 60 wrong passwords at once for supervisor, and b) one guess over 40 user names, from two
    # addresses, sent together (the password checks are slow and run one fewer at once than cores).
    burst = [p.login("supervisor", f"wrong-{i}", "10.5.0.1") for i in range(60)]
    spray = [p.login(f"user{i:03d}", "Spring2026!", "10.5.1.1") for i in range(40)]
    answers = await asyncio.gather(*burst, *spray)
    burst_codes = Counter(str(status) for status, _, _ in answers[:60])
    spray_statuses = [status for status, _, _ in answers[60:]]
    rows.append(
        (
            "5a. 60 wrong passwords at once for supervisor (one address)",
            "60 × 401",
            " + ".join(f"{n} × {s}" for s, n in sorted(burst_codes.items())),
        )
    )
    rows.append(
        (
            "5b. one password sprayed over 40 user names (one address)",
            "never throttled",
            f"throttled after {sum(s != 429 for s in spray_statuses)} ({counts(Counter(map(str, spray_statuses)))})",
        )
    )

    # c) the right password after those failures: from another address, and from the failing one.
    elsewhere, _, alone = await p.login("supervisor", PASSWORD, "10.5.0.2")
    same, _, _ = await p.login("supervisor", PASSWORD, "10.5.0.1")
    rows.append(
        (
            "5c. right password after 10 failures",
            "429 from anywhere",
            f"{elsewhere} from another address (in {alone:.2f} s); {same} from the failing address",
        )
    )

    # d) 150 bogus log-ins at once from 150 addresses; meanwhile a real log-in (retried every second
    # while the server says it is busy, at most 60 s) and /healthz every 0.25 s.
    flood = [asyncio.ensure_future(p.login(f"bogus-{i}", "x" * 12, f"10.5.2.{i}")) for i in range(150)]
    await asyncio.sleep(0.5)
    health: list[float | None] = []
    real: list[tuple[int, float]] = []
    began = time.monotonic()

    async def real_login() -> None:
        while time.monotonic() - began < 60:
            status, _, took = await p.login("clerk_zj", PASSWORD, "10.5.3.1")
            real.append((status, took))
            if status == 200:
                return
            await asyncio.sleep(1.0)

    async def health_checks() -> None:
        while True:
            began_one = time.monotonic()
            try:
                async with asyncio.timeout(10), p.http.get(p.url("/healthz")) as resp:
                    await resp.read()
                    health.append(time.monotonic() - began_one if resp.status == 200 else None)
            except (TimeoutError, aiohttp.ClientError):
                health.append(None)
            await asyncio.sleep(0.25)

    checker = asyncio.ensure_future(health_checks())
    await real_login()
    waited = time.monotonic() - began
    checker.cancel()
    done, pending = await asyncio.wait(flood, timeout=60)
    for task in pending:
        task.cancel()
    flood_codes = Counter(str(t.result()[0]) for t in done if not t.cancelled() and t.exception() is None)
    first_status, first_took = real[0]
    ok = real[-1][0] == 200
    measured = [h for h in health if h is not None]
    rows.append(
        (
            "5d. real log-in while 150 bogus log-ins (150 addresses) run",
            "real log-in 9.6 s; /healthz 837 ms",
            f"real log-in (alone: {alone:.2f} s): first try {first_status} in {first_took:.2f} s; "
            + (f"logged in {waited:.1f} s after starting, at try {len(real)}" if ok else "not in within 60 s")
            + f"; /healthz median {ms(statistics.median(measured) if measured else None)}, "
            f"max {ms(max(measured) if measured else None)}, {health.count(None)} failed; "
            f"the 150: {counts(flood_codes)}",
        )
    )
    return rows


async def f6_logout(p: Probe) -> list[Row]:
    """Log out, then use the token on REST and on /clerk."""
    status, token, _ = await p.login("clerk_js")
    if token is None:
        raise RuntimeError(f"log-in as clerk_js answered {status}")
    bearer = {"Authorization": f"Bearer {token}"}
    console = Peer(p, "/clerk")
    opened = await console.connect({"token": token})
    async with p.http.post(p.url("/api/auth/logout"), headers=bearer) as resp:
        logout = resp.status
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(console.gone.wait(), 7)
    told = "session_ended" in console.names
    async with p.http.get(p.url("/api/me"), headers=bearer) as resp:
        me = resp.status
    again = Peer(p, "/clerk")
    reconnected = await again.connect({"token": token})
    await console.close()
    await again.close()
    open_console = (
        "not connected before log-out"
        if not opened
        else f"open console {'told session_ended' if told else 'not told'}, "
        f"{'closed' if console.gone.is_set() else 'still open'}"
    )
    return [
        (
            "6. token after log-out",
            "kept working on REST and /clerk",
            f"log-out {logout}; GET /api/me {me}; /clerk connect "
            f"{'accepted' if reconnected else 'refused ' + again.refusal}; {open_console}",
        )
    ]


async def f7_connections(p: Probe) -> list[Row]:
    """Half-open connections (3,000 from the trusted proxy's address and from an untrusted one), and a
    body trickled one byte every 5 s; /healthz from 127.0.0.2 meanwhile."""

    async def half_open(source: str, watch: float) -> tuple[int, int, int | None, list[float | None]]:
        """Open up to 3,000 connections from ``source``, each with half a request head; (opened, still
        open 1 s after the last, still open ``watch`` s after the last, /healthz times meanwhile)."""
        loop = asyncio.get_running_loop()
        conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        for _ in range(12):
            batch = await asyncio.gather(*(tcp_from(p, source) for _ in range(250)), return_exceptions=True)
            for conn in batch:
                if isinstance(conn, tuple):
                    conn[1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    conns.append(conn)
        opened_at = loop.time()
        await asyncio.sleep(1.0)
        held = sum(not is_closed(c) for c in conns)
        times = []
        for _ in range(5):
            times.append(await healthz_from(p, "127.0.0.2"))
            await asyncio.sleep(0.3)
        later: int | None = None
        if watch:
            await asyncio.sleep(max(0.0, opened_at + watch - loop.time()))
            later = sum(not is_closed(c) for c in conns)
        for _, writer in conns:
            writer.close()
        return len(conns), held, later, times

    async def trickle() -> tuple[float | None, str]:
        """POST a body one byte every 5 s; (seconds until the server closed it, its answer if any)."""
        reader, writer = await tcp_from(p, "127.0.0.4")
        writer.write(
            b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4096\r\n\r\n{"
        )
        began = time.monotonic()

        async def answer() -> bytes:
            data = b""
            with contextlib.suppress(OSError):
                while chunk := await reader.read(65536):
                    data += chunk
            return data

        reading = asyncio.ensure_future(answer())
        while time.monotonic() - began < 60:
            done, _ = await asyncio.wait({reading}, timeout=5)
            if done:
                break
            with contextlib.suppress(OSError):
                writer.write(b" ")
                await writer.drain()
        closed_after = time.monotonic() - began if reading.done() else None
        reading.cancel()
        writer.close()
        status = reading.result().split(b"\r\n", 1)[0].decode(errors="replace") if closed_after else ""
        return closed_after, status or "no answer, connection closed"

    body = asyncio.ensure_future(trickle())
    quiet = await healthz_from(p, "127.0.0.2")
    opened, held, later, times = await half_open("127.0.0.1", watch=11.0)
    opened_u, held_u, _, times_u = await half_open("127.0.0.3", watch=0.0)
    closed_after, answer = await body

    def spread(times: list[float | None]) -> str:
        measured = [t for t in times if t is not None]
        if not measured:
            return "all 5 timed out"
        return f"{ms(min(measured))}–{ms(max(measured))}, {times.count(None)} of 5 timed out"

    return [
        (
            "7a. half-open connections from 127.0.0.1 (here: the trusted proxy), up to 3,000",
            "20,500 held; fds exhausted; /healthz timed out",
            f"{held} of {opened} held 1 s after opening, {later} still open 11 s after (head time-out 10 s); "
            f"/healthz from 127.0.0.2 meanwhile {spread(times)} (before: {ms(quiet)})",
        ),
        (
            "7b. half-open connections from 127.0.0.3 (not a proxy), up to 3,000",
            "(not measured apart)",
            f"{held_u} of {opened_u} held 1 s after opening; /healthz from 127.0.0.2 meanwhile {spread(times_u)}",
        ),
        (
            "7c. POST body trickled one byte every 5 s",
            "still open past 150 s",
            (f"closed by the server after {closed_after:.1f} s ({answer})" if closed_after else "still open at 60 s"),
        ),
    ]


async def f8_resume_tokens(p: Probe) -> list[Row]:
    """A resume token used twice, at once, and after the case is rated."""
    first = Peer(p)
    if not await first.connect({"kiosk_token": KIOSK_TOKEN}):
        raise RuntimeError(f"kiosk citizen refused: {first.refusal}")
    token1 = (await first.wait_for("session"))["resume_token"]

    # The token's first use: the older connection should be told `replaced` and closed.
    second = Peer(p)
    second_ok = await second.connect({"resume_token": token1})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(first.gone.wait(), 5)
    replaced = "replaced" in first.names
    token2 = (await second.wait_for("session"))["resume_token"] if second_ok else token1

    # The same token again, after it was used.
    third = Peer(p)
    third_ok = await third.connect({"resume_token": token1})

    # Two clients with the next token at the same moment.
    racers = [Peer(p), Peer(p)]
    raced = await asyncio.gather(*(r.connect({"resume_token": token2}) for r in racers))
    await asyncio.sleep(1.0)
    live = [r for r, ok in zip(racers, raced, strict=True) if ok and not r.gone.is_set()]
    survivor = live[0] if live else second

    # The survivor is served, rates the case; then its token is tried once more.
    token3 = (await survivor.wait_for("session"))["resume_token"] if live else token2
    _, case_id = await p.serve_case(survivor)
    await p.end_case(case_id)
    await survivor.wait_for("case_ended")
    rated = await survivor.call("rate", {"case_id": case_id, "level": 5, "comment": "probe"})
    after = Peer(p)
    after_ok = await after.connect({"resume_token": token3})
    for peer in (first, second, third, *racers, after):
        await peer.close()
    return [
        (
            "8. resume tokens",
            "usable by two clients at once; valid after rating; old tokens stay valid",
            f"first use {'accepted' if second_ok else 'refused'}, older connection "
            f"{'told replaced' if replaced else 'not told'}; second use "
            f"{'ACCEPTED' if third_ok else 'refused ' + third.refusal}; two at once: {sum(raced)} of 2 accepted; "
            f"rating {code(rated)}, token after rating {'ACCEPTED' if after_ok else 'refused ' + after.refusal}",
        )
    ]


async def f9_kiosk_token_url(p: Probe) -> list[Row]:
    """The kiosk token in the address: where it goes, and whether the access log keeps it."""
    start = p.server.log_size()
    async with p.http.get(p.url(f"/kiosk?kiosk_token={KIOSK_TOKEN}"), allow_redirects=False) as resp:
        status, location = resp.status, resp.headers.get("Location", "-")
    await asyncio.sleep(0.5)
    log = p.server.log_text(start)
    lines = [line for line in log.splitlines() if '"GET /kiosk' in line]
    leaked = [line for line in log.splitlines() if KIOSK_TOKEN in line]
    line = lines[0].split(": ", 1)[-1] if lines else "(no access log line)"
    return [
        (
            "9. GET /kiosk?kiosk_token=…",
            "the token travels in the URL",
            f"{status} → {location}; access log `{line}`; log lines with the token: {len(leaked)}",
        )
    ]


async def f10_headers(p: Probe) -> list[Row]:
    """Security headers: on POST /api/auth/login, and on other kinds of answers."""
    wanted = [
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Server",
        "Cache-Control",
    ]
    async with p.http.post(
        p.url("/api/auth/login"), json={"username": "nobody", "password": "x"}, headers=xff("10.10.0.1")
    ) as resp:
        headers = resp.headers
        status = resp.status
    shown = []
    for name in wanted:
        value = headers.get(name)
        if name == "Content-Security-Policy" and value:
            value = "frame-ancestors 'none'" if "frame-ancestors 'none'" in value else value[:40]
        shown.append(f"{name}: {value if value else 'MISSING'}")
    missing: list[str] = []
    for path in ("/", "/kiosk?kiosk_token=x", "/no-such-page", "/static/no-such-file.js"):
        async with p.http.get(p.url(path), allow_redirects=False) as resp:
            absent = [n for n in wanted[:4] if n not in resp.headers]
            if absent:
                missing.append(f"{resp.status} {path.split('?')[0]}")
    return [
        (f"10a. headers on POST /api/auth/login ({status})", "reported missing", "; ".join(shown)),
        (
            "10b. same headers on other answers (page, redirect, 404s)",
            "(not measured)",
            "all present"
            if not missing
            else "CSP/X-Frame-Options/nosniff/Referrer-Policy missing on " + ", ".join(missing),
        ),
    ]


async def f11_log_and_timeline_flood(p: Probe) -> list[Row]:
    """Malformed packets against the log, and media_state reports against a case's timeline."""
    rows: list[Row] = []

    async def log_rate(frame: str, seconds: float) -> tuple[float, int, Flooded]:
        """(log bytes a second, tracebacks logged, the flood) for one connection sending ``frame`` as
        fast as the server takes it."""
        ws = await raw_citizen(p, "10.11.0.1")
        start = p.server.log_size()
        flooded = await flood(ws, frame, seconds, barrier_every=50)
        grown = await settled_log(p, start)
        return len(grown.encode()) / flooded.seconds, grown.count("Traceback"), flooded

    # a) the probe's flood: Socket.IO packets that do not decode (truncated JSON).
    rate, traces, flooded = await log_rate('42/citizen,["request_help",{"matter_code":', 2.0)
    rows.append(
        (
            "11a. undecodable packets (truncated JSON) for 2 s, one connection",
            "1.6 MiB of log a second, stack trace at ERROR each",
            f"{rate / 1024:.2f} KiB/s of log, {traces} tracebacks; {flooded.closed()}; {flooded.sent} packets sent",
        )
    )

    # b) malformed events that decode but are no event: empty, no arguments, [] or {}; 1 s each.
    results = {frame: await log_rate(frame, 1.0) for frame in ("4", "42/citizen,", "42/citizen,[]", "42/citizen,{}")}
    frame, (rate, traces, flooded) = max(results.items(), key=lambda item: item[1][0])
    rows.append(
        (
            "11b. malformed events of 4 other shapes (empty, no data, [], {}), 1 s each, one connection each",
            "(not stated apart)",
            f"worst `{frame}`: {rate / 1024:.0f} KiB/s of log, {traces} tracebacks at ERROR for "
            f"{flooded.sent} packets, {flooded.closed()}; all 4: "
            + ", ".join(f"{r / 1024:.0f} KiB/s" for r, _, _ in results.values()),
        )
    )

    # c) a text frame that is no Engine.IO packet at all, a new connection for each, for 2 s.
    start, began, conns = p.server.log_size(), time.monotonic(), 0
    while time.monotonic() - began < 2.0:
        ws = await raw_citizen(p, "10.11.0.2", namespace=False)
        await flood(ws, "x", 0.0)
        conns += 1
    took = time.monotonic() - began
    grown = await settled_log(p, start)
    rows.append(
        (
            "11c. a frame that is no Engine.IO packet, a new connection each time, for 2 s (one address)",
            "(not measured)",
            f"{len(grown.encode()) / took / 1024:.0f} KiB/s of log; {grown.count('Traceback')} tracebacks "
            f"for {conns} connections",
        )
    )

    # d) media_state "failed" 491 times in a case, then alternating states.
    citizen = Peer(p, address="10.11.0.3")
    if not await citizen.connect(web_auth()):
        raise RuntimeError(f"web citizen refused: {citizen.refusal}")
    _, case_id = await p.serve_case(citizen)
    acks: Counter[str] = Counter()
    began = time.monotonic()
    for _ in range(491):
        acks[code(await citizen.call("media_state", {"case_id": case_id, "state": "failed"}))] += 1
    took = time.monotonic() - began
    same_rows = sum(e["event"].startswith("media_") for e in (await p.case(case_id))["timeline"])
    await asyncio.sleep(1.0)  # refill some of the event budget
    for i in range(100):
        state = ("disconnected", "failed", "closed")[i % 3]
        acks[code(await citizen.call("media_state", {"case_id": case_id, "state": state}))] += 1
    all_rows = sum(e["event"].startswith("media_") for e in (await p.case(case_id))["timeline"])
    await citizen.call("hang_up", {"case_id": case_id})
    await p.end_case(case_id)
    await citizen.close()
    rows.append(
        (
            "11d. media_state failed ×491 into one's case",
            "491 media_failed rows in 2.9 s",
            f"{same_rows} timeline row(s) from 491 in {took:.1f} s; {all_rows} after 100 more alternating states "
            f"(acks: {counts(acks)})",
        )
    )
    return rows


async def f12_odd_input(p: Probe) -> list[Row]:
    """Absurd log-in JSON; cancel, hang_up and signal with someone else's id and an unknown one."""
    statuses = []
    for body in (
        '{"username": ' + "[" * 20_000 + "]" * 20_000 + ', "password": "x"}',
        '{"username": ' + "9" * 4_301 + ', "password": "x"}',
    ):
        async with p.http.post(
            p.url("/api/auth/login"), data=body, headers={"Content-Type": "application/json", **xff("10.12.0.9")}
        ) as resp:
            statuses.append(resp.status)

    served, waiting, prober = (Peer(p, address=f"10.12.0.{i}") for i in (1, 2, 3))
    for c in (served, waiting, prober):
        if not await c.connect(web_auth()):
            raise RuntimeError(f"web citizen refused: {c.refusal}")
    _, case_id = await p.serve_case(served)
    other = await waiting.call("request_help", {"matter_code": MATTER, "target_region": UNSERVED})
    unknown_case, unknown_ticket = "RVW20260101000000000000", "T00000000"
    answers = {
        "cancel": (
            await prober.call("cancel", {"ticket_id": other.get("ticket_id", unknown_ticket)}),
            await prober.call("cancel", {"ticket_id": unknown_ticket}),
        ),
        "hang_up": (
            await prober.call("hang_up", {"case_id": case_id}),
            await prober.call("hang_up", {"case_id": unknown_case}),
        ),
        "signal": (
            await prober.call("signal", {"case_id": case_id, "candidate": None}),
            await prober.call("signal", {"case_id": unknown_case, "candidate": None}),
        ),
    }
    if code(other) == "ok":
        await waiting.call("cancel", {"ticket_id": other["ticket_id"]})
    await served.call("hang_up", {"case_id": case_id})
    await p.end_case(case_id)
    for c in (served, waiting, prober):
        await c.close()
    return [
        (
            "12a. log-in JSON nested 20,000 deep / a 4,301-digit integer",
            "500 / 500",
            f"{statuses[0]} / {statuses[1]}",
        ),
        (
            "12b. cancel, hang_up, signal: someone else's id / an unknown id",
            "forbidden / not_found (each)",
            "; ".join(f"{event} {code(a)} / {code(b)}" for event, (a, b) in answers.items()),
        ),
    ]


# The order they run in: the cases served in 8, 11 and 12 are the answered ones the wall's service
# level starts from in 4 (as in the probe: 1.0), the rating in 8 the positive rate 2 starts from, the
# log-in flood goes last (its password checks keep one core busy for a while).
RUN_ORDER: list[Finding] = [
    f1_binary_attachments,
    f3_web_priority,
    f6_logout,
    f8_resume_tokens,
    f11_log_and_timeline_flood,
    f12_odd_input,
    f2_rate_cancelled,
    f4_web_floods,
    f9_kiosk_token_url,
    f10_headers,
    f7_connections,
    f5_login_throttle,
]


def table(rows: list[Row]) -> str:
    def key(row: Row) -> tuple[int, str]:
        number = row[0].split(".", 1)[0]
        return int("".join(ch for ch in number if ch.isdigit()) or 0), number

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| finding | old figure | now |", "|---|---|---|"]
    lines += [f"| {cell(a)} | {cell(b)} | {cell(c)} |" for a, b, c in sorted(rows, key=key)]
    return "\n".join(lines)


def number(finding: Finding) -> str:
    return finding.__name__.split("_", 1)[0].lstrip("f")


async def run(keep_log: Path | None, only: set[str]) -> int:
    rows: list[Row] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rvw-probe-") as tmp:
        server = Server(Path(tmp))
        await server.start()
        try:
            connector = aiohttp.TCPConnector(limit=0, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as http:
                p = Probe(server, http)
                for finding in RUN_ORDER:
                    if only and number(finding) not in only:
                        continue
                    t0 = time.monotonic()
                    try:
                        rows += await finding(p)
                    except Exception as exc:
                        rows.append((f"{number(finding)}. {finding.__doc__}", "", f"PROBE FAILED: {exc!r}"))
                    print(f"finding {number(finding)}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
                await p.close()
        finally:
            await server.stop()
            if keep_log is not None:
                shutil.copyfile(server.log_path, keep_log)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"`python -m bench.probe`, {when}, {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}, {time.monotonic() - began:.0f} s\n"
    )
    print(table(rows))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--keep-log", type=Path, help="copy the server's log here")
    parser.add_argument("--only", default="", help="comma-separated finding numbers to run (default: all)")
    args = parser.parse_args()
    return asyncio.run(run(args.keep_log, {n.strip() for n in args.only.split(",") if n.strip()}))


if __name__ == "__main__":
    sys.exit(main())
