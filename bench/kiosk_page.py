"""The kiosk page in headless Chromium: bytes transferred and time to interactive, cold and warm cache (issue 9).

- One ``rvw serve`` in a subprocess on 127.0.0.1 (``bench/servers.py``'s ``ServerProcess``: SQLite in a temporary
  directory). A kiosk is registered first with ``rvw kiosk add --region 320500``, as an operator provisions one;
  the page gets its token the way a kiosk does, in the fragment of its first address (``/kiosk#kiosk_token=...``),
  and keeps it in the context's localStorage.
- Debian's Chromium, headless, driven by Playwright, at the kiosk's portrait viewport (1080x1920, scale 1). One
  load in a fresh context first warms the server (templates, first requests) and is not counted. Then, per round,
  a fresh browser context (its own empty HTTP cache, connections and storage) loads the page once, **cold**; then
  ``--warm`` more pages, one after the other, in the same context, **warm** (the previous page is closed first,
  as when a kiosk's browser reopens its page: the HTTP cache and localStorage stay, the renderer does not).
- Time to interactive (TTI): from the start of navigation (``performance.timeOrigin``) to the first moment at which
  both hold: some ``[data-matter]`` button is enabled and rendered (not ``disabled``, has a layout box, not
  ``visibility: hidden``, takes pointer events), and ``#conn-status`` has ``data-state="online"`` (the Socket.IO
  connection to /citizen is up). A MutationObserver, installed before the page's own scripts run, checks this
  after every change to the DOM; the two parts are also reported apart. Beside it: DOMContentLoaded
  (``domContentLoadedEventEnd``), load (``loadEventEnd``) and the first contentful paint (Paint Timing), all from
  the navigation's start, in milliseconds; and the main-thread tasks over 50 ms before TTI (Long Tasks API).
- Bytes: the Resource Timing API of the page (``PerformanceNavigationTiming`` and ``PerformanceResourceTiming``):
  ``transferSize`` (headers and body as received; 0 when served from the HTTP cache without asking the server,
  headers only when revalidated with a 304), ``encodedBodySize`` (body as sent) and ``decodedBodySize`` (body after
  any Content-Encoding), read 0.5 s after the page is interactive and loaded. Resource types are by path: the
  document, scripts (``.js``), stylesheets (``.css``), the REST API (``/api/``), Socket.IO's HTTP long-polling
  (``/socket.io/``, the handshake before the upgrade to WebSocket) and the rest. WebSocket frames are not in
  Resource Timing; their payload bytes are counted apart from the DevTools protocol's ``Network.webSocketFrame*``
  events. Content-Encoding, Cache-Control and the status of each response come from Playwright's response events;
  ``gzip -6`` sizes of the same bodies (fetched once more after the runs) show what compression would save.
- The server is on 127.0.0.1, so bytes cost next to no time; ``--link 10/40`` has Chromium's DevTools emulate a
  link (``Network.emulateNetworkConditions``: 10 Mbit/s each way, 40 ms added to every HTTP request; answers from
  the cache are not slowed).
- Reported: median and p90 (linear interpolation) over the cold loads and over the warm loads.

    .venv/bin/python -m bench.kiosk_page --out bench/results/kiosk_page.json
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import playwright.async_api as playwright_api
from playwright.async_api import ViewportSize

from .servers import ROOT, ServerProcess, commit, machine_busy, ours_env, rvw_command

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1080, "height": 1920}  # the kiosk's portrait screen
KIOSK_REGION = "320500"  # Suzhou, as the demo kiosk
LOAD_TIMEOUT_MS = 30_000
SETTLE_S = 0.5  # after TTI and load, so late requests are finished before the entries are read
TYPES = ("document", "script", "stylesheet", "api", "socket.io polling", "other")

# Runs before any script of the page (Playwright's init script): marks the first moment at which the matter list
# can be clicked and the moment the connection is online, on the page's own clock (ms since navigation start).
# It relies on nothing of the page but `[data-matter]` buttons and `#conn-status[data-state]`.
READY_JS = """
(() => {
  const marks = { matters: null, online: null, interactive: null, longTasks: [] };
  window.__rvwBench = marks;
  // Main-thread tasks over 50 ms (Long Tasks API): where the CPU, not the network, holds the page up.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) marks.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask" });
  const clickable = (b) => {
    if (b.disabled || b.getClientRects().length === 0) return false;
    const style = getComputedStyle(b);
    return style.visibility !== "hidden" && style.pointerEvents !== "none";
  };
  const check = () => {
    const now = performance.now();
    const matters = [...document.querySelectorAll("[data-matter]")].some(clickable);
    const conn = document.getElementById("conn-status");
    const online = Boolean(conn && conn.dataset.state === "online");
    if (matters && marks.matters === null) marks.matters = now;
    if (online && marks.online === null) marks.online = now;
    if (matters && online && marks.interactive === null) {
      marks.interactive = now;
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  document.addEventListener("DOMContentLoaded", check);
})();
"""

DONE_JS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return Boolean(window.__rvwBench && window.__rvwBench.interactive !== null && nav && nav.loadEventEnd > 0);
}
"""

COLLECT_JS = """
() => {
  const pick = (e) => ({
    url: e.name,
    initiator: e.initiatorType,
    transfer: e.transferSize,
    encoded: e.encodedBodySize,
    decoded: e.decodedBodySize,
    status: e.responseStatus || 0,
    start: e.startTime,
    end: e.responseEnd,
  });
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = {};
  for (const p of performance.getEntriesByType("paint")) paint[p.name] = p.startTime;
  return {
    marks: window.__rvwBench,
    navigation: {
      ...pick(nav),
      type: nav.type,
      response_end: nav.responseEnd,
      dom_content_loaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
    },
    paint,
    resources: performance.getEntriesByType("resource").map(pick),
  };
}
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def kind_of(url: str) -> str:
    """The resource type of a URL, by its path (the page's look may change; its addresses are stable)."""
    path = urlsplit(url).path
    if path.startswith("/socket.io/"):
        return "socket.io polling"
    if path.startswith("/api/"):
        return "api"
    if path.endswith(".js"):
        return "script"
    if path.endswith(".css"):
        return "stylesheet"
    return "other"


def cache_use(transfer: int, encoded: int) -> str:
    """How the browser got a body, from Resource Timing: the network, a 304 revalidation, or the cache alone."""
    if transfer == 0:
        return "cache" if encoded > 0 else "network"  # an empty body on the network has transferSize > 0 anyway
    return "revalidated" if transfer < encoded else "network"


@dataclass
class Load:
    """One load of the kiosk page: its timings (ms since navigation start) and its bytes."""

    cache: str  # cold | warm
    round: int
    nth: int  # 1 for a fresh context's first load, 2, 3, ... for the warm ones after it
    tti_ms: float
    matters_ms: float
    online_ms: float
    fcp_ms: float | None
    dcl_ms: float
    load_ms: float
    document_ms: float  # the document received in full (responseEnd)
    assets_ms: float | None  # the last script or stylesheet received (from the network or the cache)
    connect_ms: float | None  # the first Socket.IO request sent: the page's script is running
    long_tasks: int  # main-thread tasks over 50 ms that began before TTI
    long_task_ms: float  # their total duration
    navigation_type: str
    requests: int
    transfer: dict[str, int]
    encoded: dict[str, int]
    decoded: dict[str, int]
    count: dict[str, int]
    from_cache: int  # bodies taken from the HTTP cache without a request
    revalidated: int  # 304s
    websocket_bytes_in: int
    websocket_bytes_out: int
    websocket_frames: int
    accept_encoding: list[str]
    resources: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def accept_encoding(headers: dict[str, str]) -> str:
    return next((v for k, v in headers.items() if k.lower() == "accept-encoding"), "")


def provision_kiosk(var_dir: Path) -> str:
    """``rvw kiosk add``: the token an operator would give the kiosk (it also migrates the database)."""
    done = subprocess.run(
        [*rvw_command(), "kiosk", "add", "--name", "bench kiosk", "--region", KIOSK_REGION],
        env=ours_env(var_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rvw kiosk add failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Link:
    """A network link emulated by Chromium's DevTools (both directions; latency added to every HTTP request)."""

    mbit_s: float
    rtt_ms: float

    @classmethod
    def parse(cls, text: str) -> Link:
        """``MBIT/RTT_MS``, e.g. ``10/40``."""
        try:
            mbit, rtt = (float(x) for x in text.split("/"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not MBIT/RTT_MS, e.g. 10/40") from None
        if mbit <= 0 or rtt < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: the rate must be positive and the round trip not negative")
        return cls(mbit, rtt)

    def conditions(self) -> dict[str, Any]:
        rate = self.mbit_s * 1e6 / 8  # bytes per second
        return {"offline": False, "latency": self.rtt_ms, "downloadThroughput": rate, "uploadThroughput": rate}


async def load_once(
    context: Any, url: str, cache: str, round_: int, nth: int, headers: dict[str, Any], link: Link | None
) -> Load:
    """Open a page in ``context``, load ``url``, wait until interactive and loaded, read the timings, close it."""
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)

    def on_response(response: Any) -> None:
        path = urlsplit(response.url).path
        if path.startswith("/socket.io/"):
            return
        headers.setdefault(
            path,
            {
                "status": response.status,
                "content_type": response.headers.get("content-type", ""),
                "content_encoding": response.headers.get("content-encoding", ""),
                "cache_control": response.headers.get("cache-control", ""),
                "etag": bool(response.headers.get("etag")),
                "last_modified": response.headers.get("last-modified", ""),
                "date": response.headers.get("date", ""),
            },
        )

    page.on("response", on_response)
    ws = {"in": 0, "out": 0, "frames": 0}
    sent_encodings: set[str] = set()  # Accept-Encoding as sent (Playwright's request headers leave it out)

    def frame(direction: str) -> Callable[[dict[str, Any]], None]:
        def count(event: dict[str, Any]) -> None:
            ws[direction] += len(event["response"]["payloadData"].encode())
            ws["frames"] += 1

        return count

    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    if link is not None:
        await cdp.send("Network.emulateNetworkConditions", link.conditions())
    cdp.on("Network.webSocketFrameReceived", frame("in"))
    cdp.on("Network.webSocketFrameSent", frame("out"))
    cdp.on("Network.requestWillBeSentExtraInfo", lambda e: sent_encodings.add(accept_encoding(e["headers"])))
    try:
        await page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
        try:
            await page.wait_for_function(DONE_JS, polling=50, timeout=LOAD_TIMEOUT_MS)
        except playwright_api.TimeoutError:
            marks = await page.evaluate("() => window.__rvwBench")
            raise RuntimeError(
                f"{url.split('#')[0]} ({cache}) not interactive and loaded within {LOAD_TIMEOUT_MS} ms: "
                f"marks {marks}, page errors {errors}"
            ) from None
        await asyncio.sleep(SETTLE_S)
        got = await page.evaluate(COLLECT_JS)
    finally:
        await cdp.detach()
        await page.close()
    nav = got["navigation"]
    entries = [{**nav, "kind": "document"}, *({**r, "kind": kind_of(r["url"])} for r in got["resources"])]
    transfer = dict.fromkeys(TYPES, 0)
    encoded = dict.fromkeys(TYPES, 0)
    decoded = dict.fromkeys(TYPES, 0)
    count = dict.fromkeys(TYPES, 0)
    resources = []
    for e in entries:
        k = e["kind"]
        transfer[k] += e["transfer"]
        encoded[k] += e["encoded"]
        decoded[k] += e["decoded"]
        count[k] += 1
        resources.append(
            {
                "path": urlsplit(e["url"]).path,
                "kind": k,
                "transfer": e["transfer"],
                "encoded": e["encoded"],
                "decoded": e["decoded"],
                "status": e["status"],
                "via": cache_use(e["transfer"], e["encoded"]),
                "start_ms": round(e["start"], 1),
                "end_ms": round(e["end"], 1),
            }
        )
    marks = got["marks"]
    long_tasks = [(start, took) for start, took in marks["longTasks"] if start < marks["interactive"]]
    return Load(
        cache=cache,
        round=round_,
        nth=nth,
        tti_ms=marks["interactive"],
        matters_ms=marks["matters"],
        online_ms=marks["online"],
        fcp_ms=got["paint"].get("first-contentful-paint"),
        dcl_ms=nav["dom_content_loaded"],
        load_ms=nav["load"],
        document_ms=nav["response_end"],
        assets_ms=max((r["end_ms"] for r in resources if r["kind"] in ("script", "stylesheet")), default=None),
        connect_ms=min((r["start_ms"] for r in resources if r["kind"] == "socket.io polling"), default=None),
        long_tasks=len(long_tasks),
        long_task_ms=sum(took for _, took in long_tasks),
        navigation_type=nav["type"],
        requests=len(entries),
        transfer=transfer,
        encoded=encoded,
        decoded=decoded,
        count=count,
        from_cache=sum(1 for r in resources if r["via"] == "cache"),
        revalidated=sum(1 for r in resources if r["via"] == "revalidated"),
        websocket_bytes_in=ws["in"],
        websocket_bytes_out=ws["out"],
        websocket_frames=ws["frames"],
        accept_encoding=sorted(sent_encodings - {""}),
        resources=resources,
        errors=errors,
    )


async def drive(base_url: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    """The warm-up load, then ``--runs`` rounds of one cold load and ``--warm`` warm ones in the same context."""
    first_url = f"{base_url}/kiosk#kiosk_token={token}"  # the provisioning link; the page keeps the token
    url = f"{base_url}/kiosk"  # what a provisioned kiosk opens
    headers: dict[str, Any] = {}
    loads: list[Load] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            version = browser.version

            async def fresh_context() -> Any:
                return await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)

            context = await fresh_context()
            await context.add_init_script(READY_JS)
            warmup = await load_once(context, first_url, "warm-up", 0, 1, {}, args.link)
            await context.close()
            log(f"warm-up load: TTI {warmup.tti_ms:.0f} ms, {sum(warmup.transfer.values()):,} bytes")
            for r in range(1, args.runs + 1):
                context = await fresh_context()
                await context.add_init_script(READY_JS)
                try:
                    loads.append(await load_once(context, first_url, "cold", r, 1, headers, args.link))
                    for n in range(2, args.warm + 2):
                        loads.append(await load_once(context, url, "warm", r, n, headers, args.link))
                finally:
                    await context.close()
                mine = [x for x in loads if x.round == r]
                log(f"round {r}: TTI " + ", ".join(f"{x.tti_ms:.0f}" for x in mine) + " ms (cold first)")
        finally:
            await browser.close()
    return {"chromium": version, "warmup": asdict(warmup), "loads": loads, "headers": headers}


async def compression(base_url: str, paths: list[str]) -> dict[str, dict[str, Any]]:
    """Each body as served without encoding, its size under ``gzip -6``, and the Content-Encoding the server
    answers when asked for ``gzip, deflate, br``."""
    out: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        for path in paths:
            async with http.get(base_url + path, headers={"Accept-Encoding": "identity"}) as resp:
                body = await resp.read()
            async with http.get(base_url + path, headers={"Accept-Encoding": "gzip, deflate, br"}) as resp:
                asked = await resp.read()
                encoding = resp.headers.get("Content-Encoding", "")
            out[path] = {
                "identity": len(body),
                "gzip6": len(gzip.compress(body, compresslevel=6)),
                "when_asked": {"content_encoding": encoding, "bytes": len(asked)},
            }
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) with linear interpolation between the closest ranks."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def spread(values: list[float | None]) -> dict[str, float | None]:
    got = [v for v in values if v is not None]
    return {"median": statistics.median(got) if got else None, "p90": percentile(got, 0.9)}


def summarise(loads: list[Load]) -> dict[str, Any]:
    """Median and p90 of every figure, over the cold loads and over the warm ones."""
    out: dict[str, Any] = {}
    for cache in ("cold", "warm"):
        mine = [x for x in loads if x.cache == cache]
        if not mine:
            continue
        s: dict[str, Any] = {"loads": len(mine)}
        figures = (
            *("tti_ms", "matters_ms", "online_ms", "fcp_ms", "dcl_ms", "load_ms"),
            *("document_ms", "assets_ms", "connect_ms", "long_task_ms"),
        )
        for name in figures:
            s[name] = spread([getattr(x, name) for x in mine])
        s["requests"] = spread([x.requests for x in mine])
        s["from_cache"] = spread([x.from_cache for x in mine])
        s["revalidated"] = spread([x.revalidated for x in mine])
        s["transfer_total"] = spread([sum(x.transfer.values()) for x in mine])
        s["decoded_total"] = spread([sum(x.decoded.values()) for x in mine])
        s["transfer"] = {k: spread([x.transfer[k] for x in mine]) for k in TYPES}
        s["count"] = {k: spread([x.count[k] for x in mine]) for k in TYPES}
        s["websocket_bytes"] = spread([x.websocket_bytes_in + x.websocket_bytes_out for x in mine])
        by_nth: dict[int, list[float]] = {}
        for x in mine:
            by_nth.setdefault(x.nth, []).append(x.tti_ms)
        s["tti_ms_median_by_nth"] = {str(n): statistics.median(v) for n, v in sorted(by_nth.items())}
        out[cache] = s
    return out


def table(summary: dict[str, Any]) -> str:
    caches = [c for c in ("cold", "warm") if c in summary]
    head = "| measure | " + " | ".join(f"{c} median | {c} p90" for c in caches) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(caches)]

    def row(label: str, path: tuple[str, ...], fmt: str, scale: float = 1.0) -> None:
        cells = []
        for c in caches:
            figure: Any = summary[c]
            for key in path:
                figure = figure[key]
            cells += ["" if figure[q] is None else format(figure[q] / scale, fmt) for q in ("median", "p90")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("**time to interactive** (ms)", ("tti_ms",), ".0f")
    row("… a `[data-matter]` button clickable (ms)", ("matters_ms",), ".0f")
    row("… `#conn-status` online (ms)", ("online_ms",), ".0f")
    row("first contentful paint (ms)", ("fcp_ms",), ".0f")
    row("DOMContentLoaded, event end (ms)", ("dcl_ms",), ".0f")
    row("load, event end (ms)", ("load_ms",), ".0f")
    row("the document received in full (ms)", ("document_ms",), ".0f")
    row("the last script or stylesheet received (ms)", ("assets_ms",), ".0f")
    row("the first Socket.IO request sent (ms)", ("connect_ms",), ".0f")
    row("main-thread tasks over 50 ms before TTI, total (ms)", ("long_task_ms",), ".0f")
    row("HTTP requests", ("requests",), ".0f")
    row("… of them answered from the cache, no request", ("from_cache",), ".0f")
    row("… of them revalidated (304)", ("revalidated",), ".0f")
    row("**transferred, all HTTP** (kB)", ("transfer_total",), ".1f", 1000)
    for k in TYPES:
        row(f"… {k} (kB)", ("transfer", k), ".1f", 1000)
    row("bodies decoded, all HTTP (kB)", ("decoded_total",), ".1f", 1000)
    row("WebSocket payload, both ways (kB)", ("websocket_bytes",), ".1f", 1000)
    return "\n".join(lines)


def resource_table(cold: Load, headers: dict[str, Any], gz: dict[str, dict[str, Any]]) -> str:
    """Every HTTP resource of one cold load, the biggest first."""
    lines = [
        "| resource | type | transferred (B) | body decoded (B) | Content-Encoding | Cache-Control | gzip -6 (B) |",
        "|---|---|---:|---:|---|---|---:|",
    ]
    for r in sorted(cold.resources, key=lambda r: -r["transfer"]):
        h = headers.get(r["path"], {})
        g = gz.get(r["path"], {}).get("gzip6")
        path = r["path"] if r["kind"] != "socket.io polling" else "/socket.io/ (polling)"
        lines.append(
            f"| `{path}` | {r['kind']} | {r['transfer']:,} | {r['decoded']:,} | "
            f"{h.get('content_encoding') or 'none'} | {h.get('cache_control') or 'none'} | "
            f"{'' if g is None else format(g, ',')} |"
        )
    return "\n".join(lines)


def versions(chromium: str) -> dict[str, str]:
    out = {"python": platform.python_version(), "cpus": str(os.cpu_count()), "chromium": chromium}
    for dist in ("playwright", "aiohttp", "python-socketio"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def youngest_age_s(headers: dict[str, Any]) -> float | None:
    """The smallest Date minus Last-Modified among the answers: with no Cache-Control, Chromium keeps a response
    fresh for a tenth of that age (heuristic freshness, RFC 9111, section 4.2.2), then revalidates it."""
    ages = [
        (parsedate_to_datetime(h["date"]) - parsedate_to_datetime(h["last_modified"])).total_seconds()
        for h in headers.values()
        if h["last_modified"] and h["date"]
    ]
    return min(ages) if ages else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--runs", type=int, default=10, help="cold loads, each in a fresh browser context (default 10)")
    p.add_argument("--warm", type=int, default=3, help="warm loads after each cold one, same context (default 3)")
    p.add_argument(
        "--link",
        type=Link.parse,
        help="emulate a link of MBIT/RTT_MS (e.g. 10/40: 10 Mbit/s each way, 40 ms round trip); default: loopback",
    )
    p.add_argument("--out", help="write every load as JSON")
    p.add_argument("--keep-logs", help="copy the server's log to this directory")
    args = p.parse_args()
    if args.runs < 1 or args.warm < 0:
        p.error("--runs must be at least 1 and --warm at least 0")
    if not Path(CHROMIUM).exists():
        p.error(f"{CHROMIUM} is not installed")
    began = time.monotonic()
    measured = commit()
    with tempfile.TemporaryDirectory(prefix="rvw-bench-kiosk-") as tmp:
        var_dir = Path(tmp)
        token = provision_kiosk(var_dir)
        server = ServerProcess("ours", var_dir, var_dir, "kiosk-page")
        server.start()
        log(f"server pid {server.pid} on {server.base_url}")
        try:
            busy0, total0 = machine_busy()
            load_before = os.getloadavg()[0]
            run = asyncio.run(drive(server.base_url, token, args))
            busy1, total1 = machine_busy()
            loads: list[Load] = run["loads"]
            paths = sorted({r["path"] for r in loads[0].resources if r["kind"] != "socket.io polling"})
            gz = asyncio.run(compression(server.base_url, paths))
        finally:
            server.stop()
            problems = server.problems()
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                (Path(args.keep_logs) / server.log_path.name).write_text(server.log_path.read_text(errors="replace"))
    summary = summarise(loads)
    cold = next(x for x in loads if x.cache == "cold")
    age = youngest_age_s(run["headers"])
    texts = [p for p in paths if kind_of(p) in ("document", "script", "stylesheet", "other")]
    sent = sum(gz[p]["identity"] for p in texts)
    zipped = sum(gz[p]["gzip6"] for p in texts)
    encodings = sorted({h["content_encoding"] or "none" for h in run["headers"].values()})
    asked = sorted({g["when_asked"]["content_encoding"] or "none" for g in gz.values()})
    errors = [e for x in loads for e in x.errors]
    sent_encoding = ", ".join(sorted({e for x in loads for e in x.accept_encoding})) or "?"
    busy = (busy1 - busy0) / max(1.0, total1 - total0)
    link = f"an emulated link of {args.link.mbit_s:g} Mbit/s, {args.link.rtt_ms:g} ms" if args.link else "loopback"
    took = time.monotonic() - began
    print(
        f"Kiosk page /kiosk at {VIEWPORT['width']}x{VIEWPORT['height']}, headless Chromium {run['chromium']}, "
        f"{link}; {args.runs} cold loads (fresh context each) and {args.runs * args.warm} warm ones ({args.warm} "
        f"after each cold one, same context); medians and p90; {took:.0f} s in all; commit {measured}; machine "
        f"{busy:.0%} busy during the loads (load average {load_before:.2f} before)"
    )
    print(
        "TTI: ms from navigation start until a [data-matter] button is enabled and rendered and "
        '#conn-status[data-state="online"], both at once. Bytes: Resource Timing (transferSize, decodedBodySize); '
        "WebSocket payload: DevTools protocol frames."
    )
    print()
    print(table(summary))
    print()
    for cache in ("cold", "warm"):
        if cache in summary:
            by_nth = summary[cache]["tti_ms_median_by_nth"]
            nth = ", ".join(f"#{n} {v:.0f} ms" for n, v in by_nth.items())
            print(f"TTI median by the load's place in its context ({cache}): {nth}")
    print()
    print(f"The first cold load, resource by resource (round 1; Accept-Encoding sent: {sent_encoding}):")
    print()
    print(resource_table(cold, run["headers"], gz))
    print()
    print(
        f"Content-Encoding of the answers to Chromium: {', '.join(encodings)}; to a client asking for gzip, deflate, "
        f"br: {', '.join(asked)}. The document, scripts and stylesheet: "
        f"{sent:,} bytes as sent, {zipped:,} with gzip -6 ({zipped / sent:.0%})."
    )
    if age is not None:
        print(
            f"The youngest static file was {age:,.0f} s old when served (Date minus Last-Modified): with no "
            "Cache-Control, Chromium keeps a file fresh for a tenth of its age, then revalidates it."
        )
    print(f"Page errors: {len(errors)}" + (":" if errors else ""))
    for line in errors[:10]:
        print("   ", line[:300])
    print(f"Server log: {len(problems)} error/warning lines" + (":" if problems else ""))
    for line in problems[:10]:
        print("   ", line[:300])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(
                {
                    "args": {**vars(args), "link": asdict(args.link) if args.link else None},
                    "machine_busy": round(busy, 3),
                    "load_average_before": load_before,
                    "commit": measured,
                    "versions": versions(run["chromium"]),
                    "seconds": round(took, 1),
                    "viewport": VIEWPORT,
                    "youngest_static_age_s": age,
                    "headers": run["headers"],
                    "gzip": gz,
                    "summary": summary,
                    "warmup": run["warmup"],
                    "loads": [asdict(x) for x in loads],
                    "server_log": problems,
                },
                f,
                indent=1,
            )
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
