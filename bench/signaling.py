"""Signaling relay benchmark: our /citizen and /clerk namespaces against a bare python-socketio relay.

Both servers run in their own process on 127.0.0.1 and are measured in the same run, alternately
(bare, ours, bare, ours, ...), under the same load: ``--procs`` generator processes, each holding both ends of
``--pairs`` pairs that exchange ``signal`` events with a ~2 KB SDP as fast as acknowledgements allow; then one
pair sending sequentially (one event in flight). Reported: relayed events per second, send-to-receipt latency
p50/p99, the server's CPU per relayed event, and the ratio ours/bare. See docs/benchmarks.md.

    .venv/bin/python -m bench.signaling --out bench/results/signaling.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from array import array
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from .loadgen import GenConfig, generator_main
from .servers import EVENT_RATE, ServerProcess, clerk_name, cpu_seconds, create_clerks, login_all, machine_busy

KINDS = ("bare", "ours")
LABEL = {"bare": "bare python-socketio relay", "ours": "ours (/citizen + /clerk)"}
AIM = 0.8
READY_TIMEOUT_S = 90.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[int], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (ns), in milliseconds."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank] / 1e6


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def run_scenario(
    server: ServerProcess, mode: str, procs: int, pairs: int, tokens: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Start the generators, let them pair, run one timed window, gather what they saw."""
    ctx = multiprocessing.get_context("spawn")
    lock = ctx.Lock()
    duration = args.duration if mode == "concurrent" else args.seq_duration
    gens = []
    for i in range(procs):
        parent_end, child_end = ctx.Pipe()
        cfg = GenConfig(
            index=i,
            kind=server.kind,
            mode=mode,
            base_url=server.base_url,
            client=args.client,
            pairs=pairs,
            payload_bytes=args.payload,
            clerk_tokens=tokens[i * pairs : (i + 1) * pairs],
        )
        proc = ctx.Process(target=generator_main, args=(cfg, child_end, lock), daemon=True, name=f"loadgen-{i}")
        proc.start()
        child_end.close()
        gens.append((proc, parent_end))
    began = time.monotonic()
    try:
        setup_errors = []
        for _proc, end in gens:
            left = READY_TIMEOUT_S - (time.monotonic() - began)
            if not end.poll(max(0.0, left)):
                setup_errors.append("a generator was not ready in time")
                continue
            msg = end.recv()
            if msg[0] != "ready":
                setup_errors.append(str(msg[1]))
        if setup_errors:
            for _proc, end in gens:
                try:
                    end.send(("stop",))
                except OSError:
                    pass
            raise RuntimeError("\n".join(setup_errors))
        setup_s = time.monotonic() - began
        start = time.monotonic_ns() + 300_000_000
        warmup = args.warmup if mode == "concurrent" else min(args.warmup, 0.5)
        window_start = start + int(warmup * 1e9)
        window_end = window_start + int(duration * 1e9)
        for _proc, end in gens:
            end.send(("go", start, window_start, window_end))
        time.sleep(max(0.0, (window_start - time.monotonic_ns()) / 1e9))
        cpu0, busy0 = cpu_seconds(server.pid), machine_busy()
        time.sleep(max(0.0, (window_end - time.monotonic_ns()) / 1e9))
        cpu1, busy1 = cpu_seconds(server.pid), machine_busy()
        results = []
        for _proc, end in gens:
            if not end.poll(60.0):
                raise RuntimeError("a generator did not report its results")
            msg = end.recv()
            if msg[0] != "result":
                raise RuntimeError(str(msg[1]))
            results.append(msg[1])
    finally:
        for proc, end in gens:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            end.close()
    return summarise(results, mode, duration, setup_s, cpu1 - cpu0, busy0, busy1)


def summarise(
    results: list[dict[str, Any]],
    mode: str,
    duration: float,
    setup_s: float,
    server_cpu_s: float,
    busy0: tuple[float, float],
    busy1: tuple[float, float],
) -> dict[str, Any]:
    latencies = array("q")
    for r in results:
        latencies.frombytes(r["latencies_ns"])
    ordered = sorted(latencies)
    received = sum(r["received"] for r in results)
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    client_cpu = [r["client_cpu_s"] for r in results if r["client_cpu_s"] is not None]
    out: dict[str, Any] = {
        "mode": mode,
        "window_s": duration,
        "setup_s": round(setup_s, 2),
        "received": received,
        "sent": sum(r["sent"] for r in results),
        "per_s": received / duration,
        "p50_ms": percentile(ordered, 0.50),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] / 1e6 if ordered else None,
        "mean_ms": statistics.fmean(ordered) / 1e6 if ordered else None,
        "server_cpu_s": round(server_cpu_s, 3),
        "server_cpu_share": server_cpu_s / duration,
        "server_cpu_us_per_msg": server_cpu_s / received * 1e6 if received else None,
        # What one fully used core would relay at this cost: steadier than per_s when neighbours take CPU.
        "per_server_cpu_s": received / server_cpu_s if server_cpu_s > 0 else None,
        "client_cpu_share": sum(client_cpu) / duration if client_cpu else None,
        "machine_busy_share": (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]),
        "ack_failures": sum(r["ack_failures"] for r in results),
        "timeouts": sum(r["timeouts"] for r in results),
        "misrouted": sum(r["misrouted"] for r in results),
        "malformed": sum(r["malformed"] for r in results),
        "errors": dict(errors),
        "error_samples": [s for r in results for s in r["error_samples"]][:10],
        "teardown_problems": [s for r in results for s in r["teardown_problems"]][:10],
    }
    if mode == "sequential":
        # One event in flight: "received" counts round trips, two relayed events each.
        out["round_trips_per_s"] = out["per_s"]
        out["per_s"] = 2 * received / duration
    # Every refused acknowledgement, time-out and lost connection is in ``errors``; wrong deliveries are not.
    out["failures"] = sum(errors.values()) + out["misrouted"] + out["malformed"]
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        mine = [r for r in runs if r["server"] == kind and "error" not in r]
        conc = [r["concurrent"] for r in mine]
        seq = [r["sequential"] for r in mine]
        by_kind[kind] = {
            "runs": len(mine),
            "per_s": median([c["per_s"] for c in conc]),
            "p50_ms": median([c["p50_ms"] for c in conc]),
            "p99_ms": median([c["p99_ms"] for c in conc]),
            "server_cpu_us_per_msg": median([c["server_cpu_us_per_msg"] for c in conc]),
            "server_cpu_share": median([c["server_cpu_share"] for c in conc]),
            "per_server_cpu_s": median([c["per_server_cpu_s"] for c in conc]),
            "seq_round_trips_per_s": median([s["round_trips_per_s"] for s in seq]),
            "seq_rtt_p50_ms": median([s["p50_ms"] for s in seq]),
            "seq_rtt_p99_ms": median([s["p99_ms"] for s in seq]),
            "failures": sum(c["failures"] for c in conc) + sum(s["failures"] for s in seq),
        }

    def ratio(key: str) -> float | None:
        a, b = by_kind["ours"][key], by_kind["bare"][key]
        return a / b if a is not None and b else None

    rounds: dict[int, dict[str, float]] = {}
    for r in runs:
        if "error" not in r:
            rounds.setdefault(r["round"], {})[r["server"]] = r["concurrent"]["per_s"]
    per_round = [v["ours"] / v["bare"] for _, v in sorted(rounds.items()) if "ours" in v and v.get("bare")]
    throughput_ratio = ratio("per_s")
    return {
        "bare": by_kind["bare"],
        "ours": by_kind["ours"],
        "ratio": {
            "throughput": throughput_ratio,
            "throughput_per_round": per_round,
            "p50": ratio("p50_ms"),
            "p99": ratio("p99_ms"),
            "server_cpu_per_msg": ratio("server_cpu_us_per_msg"),
            "per_server_cpu_s": ratio("per_server_cpu_s"),
            "seq_round_trips": ratio("seq_round_trips_per_s"),
        },
        "aim": AIM,
        "meets_aim": throughput_ratio is not None and throughput_ratio >= AIM,
    }


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(runs: list[dict[str, Any]], summ: dict[str, Any], args: argparse.Namespace) -> str:
    pairs = args.procs * args.pairs
    lines = [
        f"### Summary: median of {args.rounds} rounds per server",
        "",
        "| measure | bare relay | ours | ours / bare |",
        "|---|---:|---:|---:|",
    ]
    b, o, r = summ["bare"], summ["ours"], summ["ratio"]
    rows = [
        (f"relayed signals/s ({pairs} pairs, {args.procs} generator processes)", "per_s", 0, "throughput"),
        ("latency send→receipt p50 (ms)", "p50_ms", 2, "p50"),
        ("latency send→receipt p99 (ms)", "p99_ms", 2, "p99"),
        ("server CPU per relayed signal (µs)", "server_cpu_us_per_msg", 0, "server_cpu_per_msg"),
        ("relayed signals per server CPU-second", "per_server_cpu_s", 0, "per_server_cpu_s"),
        ("server CPU used (cores)", "server_cpu_share", 2, None),
        ("1 pair sequential: round trips/s", "seq_round_trips_per_s", 0, "seq_round_trips"),
        ("1 pair sequential: round trip p50 (ms)", "seq_rtt_p50_ms", 2, None),
        ("1 pair sequential: round trip p99 (ms)", "seq_rtt_p99_ms", 2, None),
        ("failed acks, time-outs, misrouted (all runs)", "failures", 0, None),
    ]
    for label, key, digits, rkey in rows:
        ratio = fmt(r[rkey], 2) if rkey else ""
        lines.append(f"| {label} | {fmt(b[key], digits)} | {fmt(o[key], digits)} | {ratio} |")
    lines += [
        "",
        f"Throughput ratio ours/bare: **{fmt(r['throughput'], 2)}** (per round: "
        + ", ".join(f"{x:.2f}" for x in r["throughput_per_round"])
        + f"); aim ≥ {AIM}: {'met' if summ['meets_aim'] else 'NOT met'}.",
        "",
        "### Every run",
        "",
        "| round | server | signals/s | p50 ms | p99 ms | server CPU (cores) | µs/signal | generators CPU (cores)"
        " | machine busy | seq RT/s | seq RTT p50 ms | seq RTT p99 ms | failures |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if "error" in run:
            lines.append(f"| {run['round']} | {run['server']} | error: {run['error'][:80]} |||||||||||")
            continue
        c, s = run["concurrent"], run["sequential"]
        lines.append(
            f"| {run['round']} | {run['server']} | {fmt(c['per_s'], 0)} | {fmt(c['p50_ms'], 2)} | {fmt(c['p99_ms'], 2)}"
            f" | {fmt(c['server_cpu_share'], 2)} | {fmt(c['server_cpu_us_per_msg'], 0)}"
            f" | {fmt(c['client_cpu_share'], 2)} | {fmt(c['machine_busy_share'] * 100, 0)}%"
            f" | {fmt(s['round_trips_per_s'], 0)} | {fmt(s['p50_ms'], 2)} | {fmt(s['p99_ms'], 2)}"
            f" | {c['failures'] + s['failures']} |"
        )
    return "\n".join(lines)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("python-socketio", "python-engineio", "aiohttp", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.signaling", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    p.add_argument("--rounds", type=int, default=2, help="rounds; each measures bare then ours (default 2)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds of the concurrent test (10)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each window (1)")
    p.add_argument("--seq-duration", type=float, default=3.0, help="measured seconds of the 1-pair test (3)")
    p.add_argument("--procs", type=int, default=2, help="load generator processes (2)")
    p.add_argument("--pairs", type=int, default=25, help="citizen-clerk pairs per generator process (25)")
    p.add_argument("--payload", type=int, default=2048, help="characters of SDP per signal (2048)")
    p.add_argument(
        "--client", choices=("lean", "sio"), default="lean", help="lean WebSocket client or python-socketio's (lean)"
    )
    p.add_argument(
        "--event-rate",
        default=EVENT_RATE,
        help=f"RVW_EVENT_RATE and RVW_EVENT_BURST for our server ({EVENT_RATE}: the rate limit never bites)",
    )
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    p.add_argument("--keep-logs", type=Path, help="copy the servers' logs into this directory")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.procs < 1 or args.pairs < 1 or args.duration <= 0 or args.seq_duration <= 0:
        p.error("rounds, procs, pairs and durations must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    clerks = args.procs * args.pairs + 1  # one per concurrent pair, one for the sequential pair
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rvw-bench-") as tmp:
        var_dir, log_dir = Path(tmp) / "var", Path(tmp) / "logs"
        var_dir.mkdir()
        log_dir.mkdir()
        log(f"creating {clerks} clerks with `rvw user add` in {var_dir}")
        created_s = create_clerks(var_dir, clerks, parallel=os.cpu_count() or 2)
        log(f"clerks created in {created_s:.1f} s")
        tokens: list[str] = []
        for rnd in range(1, args.rounds + 1):
            for kind in KINDS:
                server = ServerProcess(kind, var_dir, log_dir, tag=f"round{rnd}", event_rate=args.event_rate)
                record: dict[str, Any] = {"round": rnd, "server": kind}
                try:
                    server.start()
                    if kind == "ours" and not tokens:
                        tokens = asyncio.run(login_all(server.base_url, [clerk_name(i) for i in range(clerks)]))
                    log(f"round {rnd}: {kind}: {args.procs} x {args.pairs} pairs for {args.duration:g} s")
                    record["concurrent"] = run_scenario(server, "concurrent", args.procs, args.pairs, tokens, args)
                    log(f"round {rnd}: {kind}: 1 pair sequential for {args.seq_duration:g} s")
                    record["sequential"] = run_scenario(server, "sequential", 1, 1, tokens[-1:], args)
                    c = record["concurrent"]
                    log(
                        f"round {rnd}: {kind}: {c['per_s']:,.0f} signals/s, p50 {fmt(c['p50_ms'], 2)} ms,"
                        f" p99 {fmt(c['p99_ms'], 2)} ms, failures {c['failures']}"
                    )
                except Exception as exc:
                    record["error"] = f"{type(exc).__name__}: {exc}"
                    log(f"round {rnd}: {kind}: FAILED: {record['error']}\n{server.log_tail()}")
                finally:
                    server.stop()
                    record["server_log_problems"] = server.problems()[:20]
                    if record["server_log_problems"]:
                        log(f"round {rnd}: {kind}: server log reports problems:")
                        for line in record["server_log_problems"][:5]:
                            log("    " + line)
                runs.append(record)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for path in log_dir.iterdir():
                (args.keep_logs / path.name).write_bytes(path.read_bytes())
    summ = summary(runs)
    table = markdown(runs, summ, args)
    print(table)
    elapsed = time.monotonic() - began
    log(f"done in {elapsed:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "benchmark": "signaling relay",
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
            "elapsed_s": round(elapsed, 1),
            "clerk_setup_s": round(created_s, 1),
            "summary": summ,
            "runs": runs,
            "markdown": table,
        }
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        log(f"results written to {args.out}")
    failed = any("error" in r for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
