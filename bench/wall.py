"""The supervisors' wall: the server's CPU with 1,000 citizens waiting and 0, 1, 5 or 50 walls open.

Once per node and second the wall (``signaling/wall.py``) builds one board and emits one ``dashboard`` view per
scope that has a wall open (the delta, or one province) to that scope's room of /supervisor. This measures what
that costs the server process, in CPU seconds per second, with 1,000 web citizens connected and waiting:

- One ``rvw serve`` in a subprocess on 127.0.0.1 (SQLite in a temporary directory, the per-address limits lifted
  as in ``bench/servers.py``, since every client comes from 127.0.0.1). The supervisors' accounts are made with
  the Directory API before it starts (one argon2 hash for all), and log in with ``POST /api/auth/login``.
- This process holds every client on one asyncio loop: 1,000 citizens on /citizen (auth ``{"channel": "web",
  "region"}``) each send ``request_help`` once, spread evenly over the four provinces and 8 matters of the
  catalog (32 queues); no clerk is on duty, so they all keep waiting. Then it waits until the oldest request is
  past ``--settle`` seconds, so the pre-breach (45 s) and breach (60 s) alerts of every ticket are behind us.
- Phases, in rounds (the order reversed every other round): N supervisors connect to /supervisor (auth
  ``{"token"}``) and each receives its first view, ``--gap`` seconds pass, then for ``--duration`` seconds the
  server's CPU (``/proc/<pid>/stat``, all threads) and every ``dashboard`` frame received are counted; then they
  disconnect. The window defaults to Engine.IO's ping interval (25 s, read from the handshake): the citizens
  connected within a second or two, so their pings come in one burst every interval, and a window of one interval
  holds exactly one ping of each, whatever its phase. N = 0 is the baseline (the citizens' Engine.IO pings, the
  queue's and the wall's own timers); N = 1 is one delta wall; N = 5 one wall per scope; N = 50 is 30 delta walls
  and 5 per province.
- Reported per N (median over rounds): server CPU cores, the wall's share (minus the baseline), the ratio to one
  wall, pushes per second per supervisor, bytes of one push per scope (the Socket.IO text frame), the lag from the
  board's ``at`` to receipt, and the time between two pushes to one supervisor.

    .venv/bin/python -m bench.wall --out bench/results/wall.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

from recordings.db import make_engine, make_sessionmaker
from recordings.migrate import upgrade
from recordings.store import Directory
from server.auth import hash_password, new_id
from server.catalog import DELTA, Catalog

from .servers import PASSWORD, ServerProcess, commit, cpu_seconds, login_all, machine_busy, ours_env
from .wire import Client, LeanClient, SioClient

PROVINCES = ("310000", "320000", "330000", "340000")
# One matter per skill where the catalog has it in all four provinces: 4 x 8 = 32 queues.
MATTERS = (
    "SB-ZY-001",
    "SB-RZ-003",
    "YB-BA-001",
    "GJJ-TQ-001",
    "HJ-QY-001",
    "JJ-JZ-001",
    "SC-BG-001",
    "BDC-DY-001",
)
ORIGINS = ("310000", "320500", "330100", "340100", "320100", "330200", "310115", "340200")
# The first n accounts are the walls of the phase with n: 1 = one delta wall, 5 = one per scope,
# 50 = 30 delta walls and 5 per province.
SCOPES = (DELTA, *PROVINCES, *(PROVINCES * 4), *([DELTA] * 29))
EVENT_PREFIX = "42/supervisor,"  # Engine.IO message, Socket.IO event, namespace
DASHBOARD_PREFIX = EVENT_PREFIX + '["dashboard",'
AT_RE = re.compile(r'\{"at":\s*([0-9.eE+-]+)')
CALL_TIMEOUT_S = 30.0
# Longer than any run, so no request expires (RVW_MAX_WAIT_SECONDS, default 600 s) while we measure.
MAX_WAIT_S = "7200"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def supervisor_name(i: int) -> str:
    return f"bench-sup-{i:02d}"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


async def create_supervisors(database_url: str, count: int) -> None:
    """The schema, then ``count`` supervisor accounts (regions from ``SCOPES``), before the server starts."""
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        directory = Directory(make_sessionmaker(engine))
        password_hash = hash_password(PASSWORD)
        for i in range(count):
            await directory.add_user(
                user_id=new_id(),
                username=supervisor_name(i),
                password_hash=password_hash,
                role="supervisor",
                display_name=f"Bench supervisor {i}",
                region=SCOPES[i],
                skills=[],
                at=time.time(),
            )
    finally:
        await engine.dispose()


class WallClient(LeanClient):
    """A supervisor's wall that counts ``dashboard`` frames without decoding them.

    It takes over the lean client's packet hook (``bench/wire.py``, ours) for ``dashboard`` events only: it keeps
    the frame's size and the board's ``at`` (the view's first key), and decodes just the first view in full to
    check its scope and waiting count.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, scope: str) -> None:
        super().__init__(session, base_url, "/supervisor")
        self.scope = scope
        self.pushes: list[tuple[int, int, float | None]] = []  # (monotonic ns, bytes, lag s)
        self.first_view: dict[str, Any] | None = None
        self.first_bytes: dict[str, int] = {}  # the first view's bytes by key (as JSON)
        self.got_first = asyncio.Event()

    def _packet(self, text: str) -> None:
        if not text.startswith(DASHBOARD_PREFIX):
            super()._packet(text)
            return
        now_ns, now = time.monotonic_ns(), time.time()
        at = AT_RE.match(text, len(DASHBOARD_PREFIX))
        self.pushes.append((now_ns, len(text.encode()), now - float(at.group(1)) if at else None))
        if self.first_view is None:
            try:
                view = json.loads(text[len(EVENT_PREFIX) :])[1]
            except (ValueError, IndexError):
                view = None
            self.first_view = view if isinstance(view, dict) else {}
            self.first_bytes = {
                k: len(json.dumps(v, separators=(",", ":")).encode()) for k, v in self.first_view.items()
            }
            self.got_first.set()


async def run_bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    """``one(i)`` for i in range(count), at most ``concurrency`` at a time."""
    indices: Iterator[int] = iter(range(count))

    async def worker() -> None:
        for i in indices:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))


class Citizens:
    """``count`` web citizens, connected and each with one request for help, waiting."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, count: int, kind: str) -> None:
        self.session = session
        self.base_url = base_url
        self.count = count
        self.kind = kind
        self.clients: list[Client] = []
        self.failures: Counter[str] = Counter()
        self.samples: list[str] = []
        self.queues: Counter[tuple[str, str]] = Counter()

    def _fail(self, what: str, detail: str) -> None:
        self.failures[what] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{what}: {detail[:200]}")

    def _client(self) -> Client:
        if self.kind == "sio":
            return SioClient(self.base_url, "/citizen")
        return LeanClient(self.session, self.base_url, "/citizen")

    async def connect(self, concurrency: int) -> float:
        began = time.monotonic()
        slots: list[Client | None] = [None] * self.count

        async def one(i: int) -> None:
            client = self._client()
            try:
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    await client.connect({"channel": "web", "region": ORIGINS[i % len(ORIGINS)]})
            except Exception as exc:
                self._fail("connect", repr(exc))
                await client.close()
                return
            slots[i] = client

        await run_bounded(self.count, concurrency, one)
        self.clients = [c for c in slots if c is not None]
        return time.monotonic() - began

    async def request(self, concurrency: int) -> float:
        began = time.monotonic()

        async def one(i: int) -> None:
            target = PROVINCES[i % len(PROVINCES)]
            matter = MATTERS[(i // len(PROVINCES)) % len(MATTERS)]
            body = {"matter_code": matter, "target_region": target}
            try:
                ack = await self.clients[i].call("request_help", body, CALL_TIMEOUT_S)
            except Exception as exc:
                self._fail("request_help", repr(exc))
                return
            if isinstance(ack, dict) and ack.get("ok") is True:
                self.queues[(target, matter)] += 1
            else:
                self._fail("request_help refused", repr(ack))

        await run_bounded(len(self.clients), concurrency, one)
        return time.monotonic() - began

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


async def open_walls(
    session: aiohttp.ClientSession, base_url: str, tokens: list[str], n: int
) -> tuple[list[WallClient], list[str]]:
    """The first ``n`` supervisors connect; each waits for its first view. Returns the walls and any failures."""
    walls = [WallClient(session, base_url, SCOPES[i]) for i in range(n)]
    problems: list[str] = []

    async def one(wall: WallClient, token: str) -> None:
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await wall.connect({"token": token})
                await wall.got_first.wait()
        except Exception as exc:
            problems.append(f"wall {wall.scope}: {exc!r:.200}")

    await asyncio.gather(*(one(w, t) for w, t in zip(walls, tokens, strict=False)))
    for wall in walls:
        view = wall.first_view or {}
        if wall.got_first.is_set() and view.get("scope") != wall.scope:
            problems.append(f"wall {wall.scope} was sent the view of {view.get('scope')!r}")
    return walls, problems


async def measure_phase(
    server: ServerProcess, session: aiohttp.ClientSession, tokens: list[str], n: int, args: argparse.Namespace
) -> dict[str, Any]:
    walls, problems = await open_walls(session, server.base_url, tokens, n)
    await asyncio.sleep(args.gap)  # the walls' first views (a board each) are out of the window
    t0, cpu0, busy0, own0 = time.monotonic_ns(), cpu_seconds(server.pid), machine_busy(), time.process_time()
    await asyncio.sleep(args.duration)
    t1, cpu1, busy1, own1 = time.monotonic_ns(), cpu_seconds(server.pid), machine_busy(), time.process_time()
    await asyncio.gather(*(w.close() for w in walls), return_exceptions=True)
    window_s = (t1 - t0) / 1e9
    pushes_per_wall: list[int] = []
    sizes: dict[str, list[int]] = {}
    lags: list[float] = []
    gaps: list[float] = []
    for wall in walls:
        inside = [p for p in wall.pushes if t0 <= p[0] < t1]
        pushes_per_wall.append(len(inside))
        sizes.setdefault(wall.scope, []).extend(p[1] for p in inside)
        lags.extend(p[2] for p in inside if p[2] is not None)
        # The gap into the window too: from the last push before it (not the first view, sent on connect).
        times = [p[0] for p in wall.pushes[1:] if t0 - 1_500_000_000 <= p[0] < t1]
        gaps.extend((b - a) / 1e9 for a, b in itertools.pairwise(times))
    waiting = {w.scope: (w.first_view or {}).get("waiting_total") for w in walls}
    anatomy: dict[str, dict[str, Any]] = {}
    for wall in walls:
        view = wall.first_view or {}
        if wall.scope not in anatomy and view:
            anatomy[wall.scope] = {
                "bytes_by_key": wall.first_bytes,
                "items": {k: len(v) for k, v in view.items() if isinstance(v, list)},
                "alerts_in_waiting": sum(1 for a in view.get("alerts", []) if a in view.get("waiting", [])),
            }
    return {
        "walls": n,
        "window_s": round(window_s, 3),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "server_cores": (cpu1 - cpu0) / window_s,
        "load_cores": (own1 - own0) / window_s,
        "machine_busy": (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]),
        "pushes": sum(pushes_per_wall),
        "pushes_per_wall_s": (sum(pushes_per_wall) / n / window_s) if n else None,
        "pushes_min_per_wall": min(pushes_per_wall) if n else None,
        "push_bytes": {scope: int(statistics.median(v)) for scope, v in sizes.items() if v},
        "lag_ms_p50": _ms(percentile(lags, 0.5)),
        "lag_ms_p99": _ms(percentile(lags, 0.99)),
        "lag_ms_max": _ms(max(lags) if lags else None),
        "server_rss_mb": rss_mb(server.pid),
        "gap_ms_p50": _ms(percentile(gaps, 0.5)),
        "gap_ms_max": _ms(max(gaps) if gaps else None),
        "waiting_total_seen": waiting,
        "first_view": anatomy,
        "problems": problems,
    }


def rss_mb(pid: int) -> float | None:
    """The resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def ping_interval(session: aiohttp.ClientSession, base_url: str) -> float:
    """Engine.IO's ping interval in seconds, from a polling handshake's open packet."""
    async with session.get(f"{base_url}/socket.io/?EIO=4&transport=polling") as resp:
        text = await resp.text()
    return float(json.loads(text[text.index("{") :])["pingInterval"]) / 1000.0


async def drive(server: ServerProcess, args: argparse.Namespace, walls: list[int]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        ping_s = await ping_interval(session, server.base_url)
        if args.duration is None:
            args.duration = ping_s
        elif args.duration % ping_s > 0.01 * ping_s:
            log(f"--duration {args.duration} is not a multiple of the ping interval ({ping_s} s): expect more noise")
        tokens = await login_all(server.base_url, [supervisor_name(i) for i in range(max(walls))])
        log(f"{len(tokens)} supervisors logged in")
        citizens = Citizens(session, server.base_url, args.citizens, args.client)
        try:
            connect_s = await citizens.connect(args.concurrency)
            log(f"{len(citizens.clients)} citizens connected in {connect_s:.1f} s")
            request_s = await citizens.request(args.concurrency)
            asked = time.monotonic()
            waiting = sum(citizens.queues.values())
            log(f"{waiting} citizens waiting in {len(citizens.queues)} queues ({request_s:.1f} s to ask)")
            if citizens.failures:
                log(f"failures: {dict(citizens.failures)} {citizens.samples}")
            settle = args.settle - (time.monotonic() - asked)
            if settle > 0:
                log(f"waiting {settle:.0f} s for every ticket's pre-breach and breach alerts to pass")
                await asyncio.sleep(settle)
            phases: list[dict[str, Any]] = []
            for r in range(args.rounds):
                for n in walls if r % 2 == 0 else list(reversed(walls)):
                    phase = await measure_phase(server, session, tokens, n, args)
                    phase["round"] = r + 1
                    phases.append(phase)
                    log(
                        f"round {r + 1}, {n:>2} walls: server {phase['server_cores']:.3f} cores, "
                        f"{phase['pushes_per_wall_s'] or 0:.2f} pushes/s per wall, bytes {phase['push_bytes']}, "
                        f"lag p50 {phase['lag_ms_p50']} ms max {phase['lag_ms_max']} ms, "
                        f"machine {phase['machine_busy']:.0%}, server RSS {phase['server_rss_mb']} MB"
                    )
                    await asyncio.sleep(args.rest)  # the disconnects are handled before the next phase
        finally:
            await citizens.close()
    return {
        "ping_interval_s": ping_s,
        "citizens_connected": len(citizens.clients),
        "citizens_waiting": waiting,
        "queues": len(citizens.queues),
        "citizen_failures": dict(citizens.failures),
        "citizen_failure_samples": citizens.samples,
        "connect_s": round(connect_s, 2),
        "request_s": round(request_s, 2),
        "phases": phases,
    }


def summarise(phases: list[dict[str, Any]], walls: list[int]) -> dict[str, Any]:
    """Medians per number of walls; the wall's cost is the server's CPU minus the same round's baseline."""
    by_n: dict[int, list[dict[str, Any]]] = {n: [p for p in phases if p["walls"] == n] for n in walls}
    base_by_round = {p["round"]: p["server_cores"] for p in phases if p["walls"] == 0}
    out: dict[str, Any] = {}
    for n, runs in by_n.items():
        cores = [p["server_cores"] for p in runs]
        net = [p["server_cores"] - base_by_round[p["round"]] for p in runs if p["round"] in base_by_round]
        sizes: dict[str, list[int]] = {}
        for p in runs:
            for scope, b in p["push_bytes"].items():
                sizes.setdefault(scope, []).append(b)
        out[str(n)] = {
            "server_cores": median(cores),
            "server_cores_each": [round(c, 4) for c in cores],
            "wall_cores": median(net) if n else 0.0,
            "wall_cores_each": [round(c, 4) for c in net],
            "pushes_per_wall_s": median([p["pushes_per_wall_s"] for p in runs if p["pushes_per_wall_s"] is not None]),
            "push_bytes": {scope: int(statistics.median(v)) for scope, v in sizes.items()},
            "lag_ms_p50": median([p["lag_ms_p50"] for p in runs if p["lag_ms_p50"] is not None]),
            "lag_ms_max": max((p["lag_ms_max"] for p in runs if p["lag_ms_max"] is not None), default=None),
            "gap_ms_p50": median([p["gap_ms_p50"] for p in runs if p["gap_ms_p50"] is not None]),
            "gap_ms_max": max((p["gap_ms_max"] for p in runs if p["gap_ms_max"] is not None), default=None),
            "load_cores": median([p["load_cores"] for p in runs]),
            "machine_busy": median([p["machine_busy"] for p in runs]),
        }
    ratios: dict[str, Any] = {}
    one = out.get("1", {}).get("wall_cores")
    for n in walls:
        if n > 1 and one:
            per_round = []
            for p in by_n[n]:
                r = p["round"]
                single = [q["server_cores"] for q in by_n.get(1, []) if q["round"] == r]
                if r in base_by_round and single and single[0] - base_by_round[r] > 0:
                    per_round.append(round((p["server_cores"] - base_by_round[r]) / (single[0] - base_by_round[r]), 2))
            ratios[str(n)] = {"vs_one_wall": out[str(n)]["wall_cores"] / one, "per_round": per_round}
    return {"by_walls": out, "ratios": ratios}


def table(summary: dict[str, Any], walls: list[int]) -> str:
    s = summary["by_walls"]
    head = "| measure | " + " | ".join(f"{n} wall{'s' if n != 1 else ''}" for n in walls) + " |"
    lines = [head, "|---|" + "---:|" * len(walls)]

    def row(label: str, fn: Callable[[dict[str, Any]], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(s[str(n)]) for n in walls) + " |")

    def num(v: Any, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    row("server CPU (cores = CPU s per s), median", lambda x: num(x["server_cores"], ".3f"))
    row("… every round", lambda x: " / ".join(f"{c:.3f}" for c in x["server_cores_each"]))
    row("the walls' share: minus the baseline (cores)", lambda x: num(x["wall_cores"], ".3f"))
    ratio_cells = []
    for n in walls:
        r = summary["ratios"].get(str(n))
        if n == 1:
            ratio_cells.append("1")
        elif r is None:
            ratio_cells.append("")
        else:
            ratio_cells.append(f"{r['vs_one_wall']:.2f} ({', '.join(str(x) for x in r['per_round'])})")
    lines.append("| the walls' share ÷ one wall's (per round) | " + " | ".join(ratio_cells) + " |")
    row("pushes per second per wall", lambda x: num(x["pushes_per_wall_s"], ".2f"))
    row(
        "bytes of one push, by scope",
        lambda x: ", ".join(f"{k} {v:,}" for k, v in sorted(x["push_bytes"].items())),
    )
    row("lag from the board's `at` to receipt, p50 / max (ms)", lambda x: _pair(x["lag_ms_p50"], x["lag_ms_max"]))
    row("time between two pushes to one wall, p50 / max (ms)", lambda x: _pair(x["gap_ms_p50"], x["gap_ms_max"]))
    row("this (load) process's CPU (cores)", lambda x: num(x["load_cores"], ".3f"))
    row("machine busy (both cores)", lambda x: num(x["machine_busy"], ".0%"))
    return "\n".join(lines)


def _pair(a: float | None, b: float | None) -> str:
    return "" if a is None else f"{a:.1f} / {b:.1f}"


def anatomy(phases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first view of the delta and of one province, from the phase with the most walls."""
    views = max(phases, key=lambda p: p["walls"])["first_view"]
    return {scope: views[scope] for scope in (DELTA, PROVINCES[0]) if scope in views}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cpus": str(os.cpu_count())}
    for dist in ("python-socketio", "python-engineio", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--citizens", type=int, default=1000)
    p.add_argument("--walls", default="0,1,5,50", help="numbers of walls measured, at most 50 (default 0,1,5,50)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--duration", type=float, help="seconds measured per phase (default: Engine.IO's ping interval, 25 s)"
    )
    p.add_argument("--gap", type=float, default=3.0, help="seconds between the walls' connecting and measuring")
    p.add_argument("--rest", type=float, default=2.0, help="seconds after the walls disconnect")
    p.add_argument(
        "--settle", type=float, default=65.0, help="seconds after the requests before measuring (default 65)"
    )
    p.add_argument("--concurrency", type=int, default=50, help="connects and requests in flight")
    p.add_argument("--client", choices=("lean", "sio"), default="lean", help="the citizens' Socket.IO client")
    p.add_argument("--out", help="write every figure as JSON")
    p.add_argument("--keep-logs", help="copy the server's log to this directory")
    args = p.parse_args()
    walls = sorted({int(x) for x in args.walls.split(",") if x.strip()})
    if not walls or walls[0] < 0 or walls[-1] > len(SCOPES):
        p.error(f"--walls: numbers from 0 to {len(SCOPES)}")
    catalog = Catalog.load(None)
    for code in MATTERS:
        matter = catalog.get(code)
        if matter is None or not set(PROVINCES) <= set(matter.provinces):
            p.error(f"the catalog does not serve {code} in all four provinces")
    began = time.monotonic()
    measured = commit()  # the code the server loads now (others may commit meanwhile)
    with tempfile.TemporaryDirectory(prefix="rvw-bench-wall-") as tmp:
        var_dir = Path(tmp)
        extra = {"RVW_MAX_WAIT_SECONDS": MAX_WAIT_S}
        asyncio.run(create_supervisors(ours_env(var_dir, extra=extra)["RVW_DATABASE_URL"], max(walls)))
        server = ServerProcess("ours", var_dir, var_dir, "wall", extra_env=extra)
        server.start()
        log(f"server pid {server.pid} on {server.base_url}")
        try:
            run = asyncio.run(drive(server, args, walls))
        finally:
            server.stop()
            problems = server.problems()
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                (Path(args.keep_logs) / server.log_path.name).write_text(server.log_path.read_text(errors="replace"))
    summary = summarise(run["phases"], walls)
    failed = bool(run["citizen_failures"]) or any(p["problems"] for p in run["phases"])
    print(
        f"{run['citizens_waiting']:,} citizens waiting in {run['queues']} queues "
        f"({run['citizens_connected']:,} connected); {args.rounds} rounds of {args.duration:.0f} s per phase, "
        f"medians; {time.monotonic() - began:.0f} s in all; commit {measured}"
    )
    print()
    print(table(summary, walls))
    print()
    for scope, view in anatomy(run["phases"]).items():
        parts = sorted(view["bytes_by_key"].items(), key=lambda kv: -kv[1])
        print(
            f"First {scope} view, bytes by key: "
            + ", ".join(f"{k} {v:,}" for k, v in parts[:6])
            + f", the rest {sum(v for _, v in parts[6:]):,}; list lengths {view['items']}; "
            f"alerts also in waiting: {view['alerts_in_waiting']}"
        )
    wall_problems = [p["problems"] for p in run["phases"] if p["problems"]]
    print(f"Failures: citizens {run['citizen_failures'] or 0}; walls {wall_problems or 0}")
    print(f"Server log: {len(problems)} error/warning lines" + (":" if problems else ""))
    for line in problems[:20]:
        print("   ", line[:300])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "commit": measured,
                    "versions": versions(),
                    "run": run,
                    "summary": summary,
                    "server_log": problems,
                },
                f,
                indent=1,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
