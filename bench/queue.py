"""Queue benchmark: one node with the in-process queue against two nodes on Redis, in one run (issue 5).

Four measurements, each side by side in the same run (see docs/benchmarks.md, "Queue"):

1. The issue's table. Every set-up gets a fresh database (and, on Redis, a fresh key prefix); ``rvw serve``
   nodes run as subprocesses on 127.0.0.1. ``--procs`` generator processes connect ``--citizens`` web
   citizens (``--connect-concurrency`` at a time in all), then ``--requests`` of them send ``request_help``
   (``--request-concurrency`` in flight in all); then, with those citizens waiting, one clerk at a time makes
   ``--pairings`` pairings (accept, end_case → the next offer), on each node. Set-ups: one node in process on
   SQLite, one node in process on PostgreSQL, two nodes on Redis on PostgreSQL.
2. ``request_help`` ack p99 with 50 in flight, SQLite against PostgreSQL (the first two set-ups of 1).
3. The pure routing core: ``end_case`` → next offer with 100, 1,000 and 10,000 waiting (bench.queue_core).
4. Fail-over on Redis: SIGKILL of the writer → the first command answered by the new one (bench.queue_failover).

    .venv/bin/python -m bench.queue [--quick] [--out bench/results/queue.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from . import queue_core, queue_failover, stores
from .queue_clerk import pair
from .queue_load import CitizenConfig, citizens_main
from .servers import ROOT, ServerProcess, clerk_name, cpu_seconds, create_clerks, machine_busy

PHASE_TIMEOUT_S = 600.0
AIM_RATE = 0.5  # two nodes' request rate / one node's, at least
AIM_PAIRING = 5.0  # two nodes' pairing p50 / one node's, at most
AIM_ACK_P99_MS = 100.0
AIM_CORE = 2.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def busy_share(seconds: float) -> float:
    """How busy the whole machine was (0..1 of all CPUs) over the next ``seconds``."""
    b0 = machine_busy()
    time.sleep(seconds)
    b1 = machine_busy()
    return (b1[0] - b0[0]) / max(1.0, b1[1] - b0[1])


def wait_quiet(max_s: float, threshold: float = 0.15) -> float:
    """Wait (at most ``max_s``) until the machine is below ``threshold`` busy over 2 s; the last share seen.

    Other work on this shared machine (tests, simulations) takes CPU from the servers under test; the share
    before each measurement is recorded either way.
    """
    deadline = time.monotonic() + max_s
    share = busy_share(2.0)
    while share > threshold and time.monotonic() < deadline:
        log(f"machine {share:.0%} busy before measuring; waiting for it to calm down")
        share = busy_share(5.0)
    return share


@dataclass(frozen=True)
class Setup:
    name: str
    label: str
    nodes: int
    database: str  # sqlite | postgres
    redis: bool


SETUPS = (
    Setup("local-sqlite", "1 node, in process, SQLite", 1, "sqlite", False),
    Setup("local-pg", "1 node, in process, PostgreSQL", 1, "postgres", False),
    Setup("redis2-pg", "2 nodes, Redis, PostgreSQL", 2, "postgres", True),
)


def percentile_ms(values_ns: list[int], q: float) -> float | None:
    """Nearest-rank percentile of nanosecond values, in milliseconds."""
    if not values_ns:
        return None
    ordered = sorted(values_ns)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank] / 1e6


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge_phase(
    reports: list[dict[str, Any]], cpu: dict[str, float], wall_s: float, busy: float, background: float
) -> dict[str, Any]:
    lat = array("q")
    for r in reports:
        lat.frombytes(r["latencies_ns"])
    values = list(lat)
    refused: Counter[str] = Counter()
    for r in reports:
        refused.update(r["refused"])
    ok = sum(r["ok"] for r in reports)
    span_s = (max(r["last_end_ns"] for r in reports) - min(r["first_start_ns"] for r in reports)) / 1e9
    return {
        "ok": ok,
        "refused": sum(refused.values()),
        "refused_by_code": dict(refused),
        "refusal_samples": [s for r in reports for s in r["samples"]][:8],
        "span_s": span_s,
        "last_end_ns": max(r["last_end_ns"] for r in reports),
        "per_s": ok / span_s if span_s > 0 else None,
        "p50_ms": percentile_ms(values, 0.50),
        "p99_ms": percentile_ms(values, 0.99),
        "max_ms": max(values) / 1e6 if values else None,
        "server_cpu_cores": {k: v / wall_s for k, v in cpu.items()} if wall_s > 0 else {},
        "generators_cpu_cores": sum(r["cpu_s"] for r in reports) / wall_s if wall_s > 0 else None,
        "machine_busy": busy,
        "background_busy": background,
    }


class Generators:
    """The citizen generator processes of one set-up."""

    def __init__(self, urls: list[str], args: argparse.Namespace) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.procs: list[tuple[Any, Any]] = []
        counts = split(args.citizens, args.procs)
        asks = split(args.requests, args.procs)
        conc = split(args.connect_concurrency, args.procs)
        rconc = split(args.request_concurrency, args.procs)
        for i in range(args.procs):
            parent_end, child_end = ctx.Pipe()
            cfg = CitizenConfig(
                index=i,
                urls=urls,
                citizens=counts[i],
                requests=asks[i],
                connect_concurrency=max(1, conc[i]),
                request_concurrency=max(1, rconc[i]),
            )
            proc = ctx.Process(target=citizens_main, args=(cfg, child_end), daemon=True, name=f"citizens-{i}")
            proc.start()
            child_end.close()
            self.procs.append((proc, parent_end))
        self.gather("ready", 60.0)

    def gather(self, expected: str, within_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within_s
        out = []
        for _proc, end in self.procs:
            if not end.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"a generator did not answer {expected!r} within {within_s:.0f} s")
            msg = end.recv()
            if msg[0] != expected:
                raise RuntimeError(f"a generator answered {msg[0]!r}: {str(msg[1])[:2000]}")
            out.append(msg[1])
        return out

    def phase(self, order: str, expected: str, pids: dict[str, int], database: str | None) -> dict[str, Any]:
        background = busy_share(1.0)  # the machine before the phase, our servers idle
        sessions0 = stores.pg_sessions(database) if database else None
        start = time.monotonic_ns() + 300_000_000
        for _proc, end in self.procs:
            end.send((order, start))
        time.sleep(max(0.0, (start - time.monotonic_ns()) / 1e9))
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        busy0 = machine_busy()
        t0 = time.monotonic()
        reports = self.gather(expected, PHASE_TIMEOUT_S)
        wall = time.monotonic() - t0
        busy1 = machine_busy()
        cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
        busy = (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1])
        out = merge_phase(reports, cpu, wall, busy, background)
        out["pg_sessions_before"] = sessions0
        return out

    def stop(self) -> dict[str, Any]:
        received: Counter[str] = Counter()
        for _proc, end in self.procs:
            try:
                end.send(("stop",))
            except OSError:
                pass
        for _proc, end in self.procs:
            try:
                if end.poll(60.0):
                    msg = end.recv()
                    if msg[0] == "closed":
                        received.update(msg[1]["received"])
            except (OSError, EOFError):
                pass
        for proc, end in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            end.close()
        return dict(received)


class Deployment:
    """The nodes of one set-up, with their database and Redis prefix; removed afterwards."""

    def __init__(self, setup: Setup, root: Path, tag: str) -> None:
        self.setup = setup
        self.var_dir = root / f"{tag}-{setup.name}" / "var"
        self.log_dir = root / "logs"
        self.var_dir.mkdir(parents=True)
        self.log_dir.mkdir(exist_ok=True)
        self.tag = tag
        self.database: str | None = None
        self.prefix: str | None = None
        self.env: dict[str, str] = {}
        self.nodes: dict[str, ServerProcess] = {}
        self.spawned = 0

    def prepare(self, clerks: int) -> None:
        if self.setup.database == "postgres":
            self.database = stores.create_database(self.setup.name.replace("-", "_"))
            self.env["RVW_DATABASE_URL"] = stores.pg_url(self.database)
        if self.setup.redis:
            self.prefix = stores.new_prefix(self.setup.name)
            self.env["RVW_REDIS_URL"] = stores.REDIS_URL
            self.env["RVW_REDIS_PREFIX"] = self.prefix
        created = create_clerks(self.var_dir, clerks, parallel=2, extra_env=self.env)
        log(f"{self.setup.name}: {clerks} clerks created in {created:.1f} s")

    def start_node(self) -> tuple[str, ServerProcess]:
        self.spawned += 1
        node_id = f"{self.setup.name}-n{self.spawned}"
        env = {**self.env, "RVW_NODE_ID": node_id}
        server = ServerProcess("ours", self.var_dir, self.log_dir, tag=f"{self.tag}-{node_id}", extra_env=env)
        server.start(timeout=60.0)
        self.nodes[node_id] = server
        return node_id, server

    def start(self) -> None:
        for _ in range(self.setup.nodes):
            self.start_node()
        if self.prefix:
            writer = asyncio.run(queue_failover.wait_for_writer(self.prefix))
            log(f"{self.setup.name}: writer {writer[0]} (epoch {writer[1]})")

    def writer(self) -> str | None:
        if not self.prefix:
            return next(iter(self.nodes))
        held = stores.lease_holder(self.prefix)
        return held[0] if held else None

    def stop(self) -> list[str]:
        problems = []
        for node_id, server in self.nodes.items():
            server.stop()
            problems += [f"{node_id}: {line}" for line in server.problems()]
        return problems

    def case_count(self) -> int | None:
        """Case records in the database (what the recorder has written)."""
        if self.database:
            return stores.pg_count(self.database, "cases")
        path = self.var_dir / "rvw.sqlite3"
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
                return int(db.execute("SELECT count(*) FROM cases").fetchone()[0])
        except sqlite3.Error:
            return None

    def remove(self, keep: bool) -> None:
        if keep:
            log(f"{self.setup.name}: kept database {self.database} and prefix {self.prefix}")
            return
        if self.database:
            stores.drop_database(self.database)
        if self.prefix:
            stores.clear_prefix(self.prefix)


def count_sessions(phase: dict[str, Any], database: str | None) -> None:
    """PostgreSQL sessions opened during ``phase`` (statistics of a session appear when it ends: wait a second)."""
    before = phase.pop("pg_sessions_before", None)
    if database and before is not None:
        time.sleep(1.0)
        after = stores.pg_sessions(database)
        phase["pg_sessions_opened"] = after - before if after is not None else None


def records_lag(dep: Deployment, expected: int, last_ack_ns: int, within_s: float = 60.0) -> dict[str, Any]:
    """How long after the last acknowledged request every requested case had its record in the database."""
    deadline = time.monotonic() + within_s
    count = dep.case_count()
    while (count is None or count < expected) and time.monotonic() < deadline:
        time.sleep(0.05)
        count = dep.case_count()
    return {"cases": count, "expected": expected, "after_last_ack_s": (time.monotonic_ns() - last_ack_ns) / 1e9}


def run_setup(setup: Setup, root: Path, rnd: int, args: argparse.Namespace) -> dict[str, Any]:
    """The table's scenario on one set-up: connect, request, pair."""
    dep = Deployment(setup, root, f"r{rnd}")
    record: dict[str, Any] = {"setup": setup.name, "label": setup.label, "nodes": setup.nodes, "round": rnd}
    gens: Generators | None = None
    try:
        dep.prepare(clerks=setup.nodes)
        dep.start()
        urls = [s.base_url for s in dep.nodes.values()]
        pids = {k: s.pid for k, s in dep.nodes.items()}
        gens = Generators(urls, args)
        record["quiet_before"] = wait_quiet(args.wait_quiet)
        log(f"{setup.name} (round {rnd}): {args.citizens} citizens connect, {args.connect_concurrency} at a time")
        record["connect"] = gens.phase("connect", "connected", pids, dep.database)
        c = record["connect"]
        count_sessions(c, dep.database)
        log(f"{setup.name}: {c['ok']} connected in {c['span_s']:.1f} s ({c['per_s']:.0f}/s), {c['refused']} refused")
        wait_quiet(args.wait_quiet)
        log(f"{setup.name}: {args.requests} request_help, {args.request_concurrency} in flight")
        record["request"] = gens.phase("request", "requested", pids, dep.database)
        q = record["request"]
        record["records"] = records_lag(dep, q["ok"], q["last_end_ns"])
        count_sessions(q, dep.database)
        log(
            f"{setup.name}: {q['ok']} requests in {q['span_s']:.1f} s ({q['per_s']:.0f}/s), ack p50 {q['p50_ms']:.1f}"
            f" ms, p99 {q['p99_ms']:.1f} ms, {q['refused']} refused; {record['records']['cases']} case records"
            f" {record['records']['after_last_ack_s']:.2f} s after the last ack"
        )
        time.sleep(args.settle)  # the position flush and the recorder catch up before pairings are timed
        # On Redis: the clerk on the node that is not the writer first (most clerks are, with several nodes).
        writer = dep.writer()
        order = sorted(dep.nodes, key=lambda n: n == writer)  # follower first (a stable sort)
        pairings = []
        waiting = q["ok"]
        for k, node_id in enumerate(order):
            role = ("writer" if node_id == writer else "follower") if setup.redis else "single"
            cpu0 = cpu_seconds(dep.nodes[node_id].pid)
            result = asyncio.run(
                pair(dep.nodes[node_id].base_url, clerk_name(k), args.pairings, waiting, node=f"{node_id} ({role})")
            ).report()
            result["role"] = role
            result["node_cpu_s"] = cpu_seconds(dep.nodes[node_id].pid) - cpu0
            waiting -= len(result["end_to_offer_ms"]) + 1
            pairings.append(result)
            values = result["end_to_offer_ms"]
            log(
                f"{setup.name}: clerk on {result['node']}: {len(values)} pairings, end_case → offer p50"
                f" {fmt(statistics.median(values) if values else None, 1)} ms, max {fmt(max(values, default=None), 1)}"
                f" ms; errors {result['errors']}"
            )
        record["pairings"] = pairings
        if dep.prefix:
            record["snapshot_bytes"] = stores.snapshot_size(dep.prefix)
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{setup.name}: FAILED: {record['error']}")
        for s in dep.nodes.values():
            log(s.log_tail(800))
    finally:
        if gens is not None:
            record["citizens_received"] = gens.stop()
        record["log_problems"] = dep.stop()[:30]
        dep.remove(args.keep)
    return record


def run_failover(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    setup = Setup("failover", "2 nodes, Redis, PostgreSQL", 2, "postgres", True)
    dep = Deployment(setup, root, "fo")
    out: dict[str, Any] = {"rounds": []}
    try:
        dep.prepare(clerks=0)
        dep.start()
        assert dep.prefix is not None
        for rnd in range(1, args.failovers + 1):
            alive = {k: s for k, s in dep.nodes.items() if s.proc is not None and s.proc.poll() is None}
            quiet = wait_quiet(args.wait_quiet)
            result = asyncio.run(
                queue_failover.failover_round(
                    dep.prefix,
                    alive,
                    citizens=args.failover_citizens,
                    interval_s=args.failover_interval,
                    lead_s=1.0,
                    after_s=1.0,
                    max_s=40.0,
                    log=log,
                )
            )
            result["round"] = rnd
            result["quiet_before"] = quiet
            out["rounds"].append(result)
            log(
                f"fail-over {rnd}: kill {result['writer']} → lease to {result.get('new_writer')} in"
                f" {fmt(result.get('lease_taken_s'), 2)} s; first request sent after the kill answered in"
                f" {fmt(result['failover_s'], 2)} s; {result['answered']}/{result['requests']} answered,"
                f" refused {result['refused']}"
            )
            if rnd < args.failovers:
                node_id, _ = dep.start_node()
                log(f"fail-over: started {node_id} in place of the killed writer")
                time.sleep(2.0)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        log(f"fail-over: FAILED: {out['error']}")
    finally:
        out["log_problems"] = dep.stop()[:40]
        dep.remove(args.keep)
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def median_of(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def combine(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One set-up's rounds as one record: medians of the phases' figures, refusals summed, pairings pooled."""
    ok = [r for r in records if "error" not in r]
    if not ok:
        return dict(records[0])
    out: dict[str, Any] = {k: ok[0][k] for k in ("setup", "label", "nodes")}
    out["rounds"] = len(ok)
    for ph in ("connect", "request"):
        phases = [r[ph] for r in ok]
        refused: Counter[str] = Counter()
        for x in phases:
            refused.update(x["refused_by_code"])
        merged: dict[str, Any] = {
            k: median_of([x.get(k) for x in phases])
            for k in (
                "ok",
                "span_s",
                "per_s",
                "p50_ms",
                "p99_ms",
                "max_ms",
                "generators_cpu_cores",
                "machine_busy",
                "background_busy",
                "pg_sessions_opened",
            )
        }
        merged["refused"] = sum(x["refused"] for x in phases)
        merged["refused_by_code"] = dict(refused)
        merged["server_cpu_cores"] = {
            node: median_of([x["server_cpu_cores"].get(node) for x in phases]) for node in phases[0]["server_cpu_cores"]
        }
        out[ph] = merged
    out["snapshot_bytes"] = median_of([r.get("snapshot_bytes") for r in ok])
    out["records_after_last_ack_s"] = median_of([r["records"]["after_last_ack_s"] for r in ok])
    out["records_complete"] = all(r["records"]["cases"] == r["records"]["expected"] for r in ok)
    pooled: dict[str, dict[str, Any]] = {}
    for r in ok:
        for p in r["pairings"]:
            into = pooled.setdefault(
                p["role"], {"role": p["role"], "end_to_offer_ms": [], "accept_ack_ms": [], "waiting_before": []}
            )
            into["end_to_offer_ms"] += p["end_to_offer_ms"]
            into["accept_ack_ms"] += p["accept_ack_ms"]
            into["waiting_before"].append(p["waiting_before"])
    out["pairings"] = list(pooled.values())
    out["pairing_errors"] = [e for r in ok for p in r["pairings"] for e in p["errors"]]
    return out


def pairing_stats(record: dict[str, Any], role: str | None = None) -> dict[str, Any]:
    mine = [p for p in record.get("pairings", []) if role is None or p["role"] == role]
    values = [v for p in mine for v in p["end_to_offer_ms"]]
    accepts = [v for p in mine for v in p["accept_ack_ms"]]
    waiting = [
        w
        for p in mine
        for w in (p["waiting_before"] if isinstance(p["waiting_before"], list) else [p["waiting_before"]])
    ]
    return {
        "n": len(values),
        "p50_ms": statistics.median(values) if values else None,
        "max_ms": max(values) if values else None,
        "accept_p50_ms": statistics.median(accepts) if accepts else None,
        "waiting_before": min(waiting, default=None),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary(
    combined: dict[str, dict[str, Any]],
    runs: list[dict[str, Any]],
    core: dict[str, Any] | None,
    failover: dict[str, Any] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    one, two = combined.get("local-pg"), combined.get("redis2-pg")
    if one and two and "error" not in one and "error" not in two:
        p_one = pairing_stats(one)
        follower, writer = pairing_stats(two, "follower"), pairing_stats(two, "writer")
        rate = ratio(two["request"]["per_s"], one["request"]["per_s"])
        r_follower, r_writer = ratio(follower["p50_ms"], p_one["p50_ms"]), ratio(writer["p50_ms"], p_one["p50_ms"])
        refused = sum(r[ph]["refused"] for r in (one, two) for ph in ("connect", "request"))
        per_round = []
        for rnd in sorted({r["round"] for r in runs}):
            a = next((r for r in runs if r["round"] == rnd and r["setup"] == "local-pg" and "error" not in r), None)
            b = next((r for r in runs if r["round"] == rnd and r["setup"] == "redis2-pg" and "error" not in r), None)
            if a and b:
                per_round.append(ratio(b["request"]["per_s"], a["request"]["per_s"]))
        out["table"] = {
            "request_rate_ratio": rate,
            "request_rate_ratio_per_round": per_round,
            "pairing_p50_ratio_follower": r_follower,
            "pairing_p50_ratio_writer": r_writer,
            "pairing_max_ratio_follower": ratio(follower["max_ms"], p_one["max_ms"]),
            "pairing_max_ratio_writer": ratio(writer["max_ms"], p_one["max_ms"]),
            "refused": refused,
            "aims": {
                "nothing refused": refused == 0,
                f"request rate ratio >= {AIM_RATE}": rate is not None and rate >= AIM_RATE,
                f"pairing p50 ratio <= {AIM_PAIRING:g} (clerk on either node)": all(
                    r is not None and r <= AIM_PAIRING for r in (r_follower, r_writer)
                ),
            },
        }
    lite = combined.get("local-sqlite")
    if lite and one and "error" not in lite and "error" not in one:
        lite_p99, pg_p99 = lite["request"]["p99_ms"], one["request"]["p99_ms"]
        out["ack_p99"] = {
            "sqlite_ms": lite_p99,
            "postgres_ms": pg_p99,
            "aims": {
                f"SQLite ack p99 < {AIM_ACK_P99_MS:g} ms": lite_p99 is not None and lite_p99 < AIM_ACK_P99_MS,
                f"PostgreSQL ack p99 < {AIM_ACK_P99_MS:g} ms": pg_p99 is not None and pg_p99 < AIM_ACK_P99_MS,
            },
        }
    if core:
        out["core"] = {
            "ratio": core["ratio"],
            "aims": {f"dispatch ratio <= {AIM_CORE:g}": core["ratio"]["end_case"] <= AIM_CORE},
        }
    if failover and failover.get("rounds"):
        times = [r["failover_s"] for r in failover["rounds"] if r["failover_s"] is not None]
        refused = sum(sum(r["refused"].values()) for r in failover["rounds"])
        out["failover"] = {
            "median_s": median_of(times),
            "max_s": max(times) if times else None,
            "refused": refused,
            "aims": {
                "none refused during fail-over": refused == 0,
                "every fail-over answered": len(times) == len(failover["rounds"]),
            },
        }
    return out


def markdown(
    combined: dict[str, dict[str, Any]],
    runs: list[dict[str, Any]],
    core: dict[str, Any] | None,
    failover: dict[str, Any] | None,
    summ: dict[str, Any],
    args: argparse.Namespace,
) -> str:
    lines: list[str] = []
    cols = [s.name for s in SETUPS if s.name in combined]
    rounds = f"median of {args.rounds} rounds; " if args.rounds > 1 else ""
    lines += [
        f"#### 1. {args.citizens:,} web citizens connect ({args.connect_concurrency} at a time), {args.requests:,} ask"
        f" for help ({args.request_concurrency} in flight); then {args.pairings} pairings per clerk ({rounds}pairing"
        " figures over every pairing)",
        "",
        "| | " + " | ".join(combined[c]["label"] for c in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]

    def row(label: str, fn: Any) -> None:
        cells = []
        for c in cols:
            r = combined[c]
            try:
                cells.append("error" if "error" in r else fn(r))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def refused(ph: str) -> Any:
        def cell(r: dict[str, Any]) -> str:
            n = r[ph]["refused"]
            return "0" if n == 0 else f"**{n}** " + ", ".join(f"{k} {v}" for k, v in r[ph]["refused_by_code"].items())

        return cell

    def cores(ph: str) -> Any:
        return lambda r: " + ".join(fmt(v, 2) for v in r[ph]["server_cpu_cores"].values())

    def busy(ph: str) -> Any:
        return lambda r: f"{r[ph]['machine_busy']:.0%} ({r[ph]['background_busy']:.0%} before)"

    row("connections: connected / time", lambda r: f"{r['connect']['ok']:,.0f} in {r['connect']['span_s']:.1f} s")
    row("connections per second", lambda r: fmt(r["connect"]["per_s"], 0))
    row("connect p50 / p99 (ms)", lambda r: f"{fmt(r['connect']['p50_ms'])} / {fmt(r['connect']['p99_ms'])}")
    row("connections refused", refused("connect"))
    row("requests per second", lambda r: fmt(r["request"]["per_s"], 0))
    row("request_help ack p50 / p99 (ms)", lambda r: f"{fmt(r['request']['p50_ms'])} / {fmt(r['request']['p99_ms'])}")
    row("request_help ack max (ms)", lambda r: fmt(r["request"]["max_ms"]))
    row("requests refused", refused("request"))
    for role, label in (
        ("single", "one node"),
        ("follower", "clerk on the follower"),
        ("writer", "clerk on the writer"),
    ):

        def cell(r: dict[str, Any], role: str = role) -> str:
            st = pairing_stats(r, role)
            if not st["n"]:
                return ""
            return (
                f"p50 {fmt(st['p50_ms'], 1)}, max {fmt(st['max_ms'], 1)}"
                f" (n {st['n']}, ≥ {st['waiting_before']:,} waiting)"
            )

        if any(p["role"] == role for r in combined.values() for p in r.get("pairings", [])):
            row(f"end_case → next offer (ms), {label}", cell)
    row("accept ack p50 (ms)", lambda r: fmt(pairing_stats(r)["accept_p50_ms"], 1))
    row("server CPU while connecting (cores, per node)", cores("connect"))
    row("server CPU while requesting (cores, per node)", cores("request"))
    row("generators CPU while requesting (cores, all)", lambda r: fmt(r["request"]["generators_cpu_cores"], 2))
    row("machine busy while requesting (before it)", busy("request"))
    row(
        "PostgreSQL sessions opened while connecting / requesting",
        lambda r: (
            f"{r['connect']['pg_sessions_opened']:.0f} / {r['request']['pg_sessions_opened']:.0f}"
            if r["request"].get("pg_sessions_opened") is not None
            else ""
        ),
    )
    row(
        "all case records written, after the last ack (s)",
        lambda r: fmt(r["records_after_last_ack_s"], 2) + ("" if r["records_complete"] else " (**incomplete**)"),
    )
    row(
        "the writer's snapshot at the end (MB)",
        lambda r: fmt(r["snapshot_bytes"] / 1e6, 2) if r.get("snapshot_bytes") is not None else "",
    )
    lines.append("")
    t = summ.get("table")
    if t:
        lines += [
            f"Two nodes / one node (both PostgreSQL): request rate **{fmt(t['request_rate_ratio'], 2)}** (aim ≥"
            f" {AIM_RATE}; per round "
            + ", ".join(fmt(x, 2) for x in t["request_rate_ratio_per_round"])
            + f"); pairing p50 **{fmt(t['pairing_p50_ratio_follower'], 2)}** with the clerk on the follower,"
            f" **{fmt(t['pairing_p50_ratio_writer'], 2)}** on the writer (aim ≤ {AIM_PAIRING:g}); pairing max"
            f" {fmt(t['pairing_max_ratio_follower'], 1)} and {fmt(t['pairing_max_ratio_writer'], 1)} times; refused:"
            f" {t['refused']} (aim 0).",
            "",
        ]
    if args.rounds > 1 or any("error" in r for r in runs):
        lines += [
            "Every run:",
            "",
            "| round | set-up | connected/s | refused | requests/s | ack p50 / p99 ms | refused | pairing p50 / max ms"
            " | machine busy (before) |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in runs:
            if "error" in r:
                lines.append(f"| {r['round']} | {r['setup']} | error: {r['error'][:100]} |||||||")
                continue
            st = pairing_stats(r)
            c, q = r["connect"], r["request"]
            lines.append(
                f"| {r['round']} | {r['setup']} | {fmt(c['per_s'], 0)} | {c['refused']} | {fmt(q['per_s'], 0)}"
                f" | {fmt(q['p50_ms'])} / {fmt(q['p99_ms'])} | {q['refused']} | {fmt(st['p50_ms'], 1)} /"
                f" {fmt(st['max_ms'], 1)} | {q['machine_busy']:.0%} ({q['background_busy']:.0%}) |"
            )
        lines.append("")
    a = summ.get("ack_p99")
    if a:
        lines += [
            f"#### 2. request_help ack, {args.request_concurrency} in flight, one node in process"
            + (f" ({rounds.rstrip('; ')})" if rounds else ""),
            "",
            "| database | ack p50 (ms) | ack p99 (ms) | requests/s | aim p99 < 100 ms |",
            "|---|---:|---:|---:|---|",
        ]
        for name, label in (("local-sqlite", "SQLite"), ("local-pg", "PostgreSQL")):
            r = combined[name]["request"]
            met = r["p99_ms"] is not None and r["p99_ms"] < AIM_ACK_P99_MS
            lines.append(
                f"| {label} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {fmt(r['per_s'], 0)}"
                f" | {'met' if met else 'NOT met'} |"
            )
        lines.append("")
    if core:
        lines += [
            f"#### 3. The routing core alone: µs per operation (median of {core['reps']:,}; p99 in brackets)",
            "",
            "| waiting | end_case → offer | accept | request | accept with a position flush (ms) |",
            "|---:|---:|---:|---:|---:|",
        ]
        for n, s in core["sizes"].items():
            lines.append(
                f"| {int(n):,} | {s['end_case_median_us']:.1f} ({s['end_case_p99_us']:.1f})"
                f" | {s['accept_median_us']:.1f} ({s['accept_p99_us']:.1f})"
                f" | {s['request_median_us']:.1f} ({s['request_p99_us']:.1f})"
                f" | {s['flush_accept_median_ms']:.2f} ({s['flush_events']:,} events) |"
            )
        r = core["ratio"]
        lines += [
            "",
            f"10,000 / 100 waiting: end_case → offer **{r['end_case']:.2f}** (aim ≤ {AIM_CORE:g}), accept"
            f" {r['accept']:.2f}, request {r['request']:.2f}.",
            "",
        ]
    if failover:
        lines += [
            "#### 4. Fail-over: SIGKILL of the writer → the first request sent after the kill answered",
            "",
            "| round | killed | new writer | lease taken (s) | fail-over (s) | first ack after the kill (s)"
            " | answered / sent | refused | slowest ack (ms) |",
            "|---:|---|---|---:|---:|---:|---:|---|---:|",
        ]
        for r in failover.get("rounds", []):
            lines.append(
                f"| {r['round']} | {r['writer']} | {r.get('new_writer', '–')} | {fmt(r.get('lease_taken_s'), 2)}"
                f" | {fmt(r['failover_s'], 2)} | {fmt(r['first_ack_after_kill_s'], 2)}"
                f" | {r['answered']} / {r['requests']} | {sum(r['refused'].values())} | {fmt(r['max_ack_ms'], 0)} |"
            )
        if "error" in failover:
            lines.append(f"| error: {failover['error'][:200]} |||||||||")
        lines.append("")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("python-socketio", "python-engineio", "aiohttp", "redis", "SQLAlchemy", "asyncpg", "aiosqlite"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def code_version() -> dict[str, Any]:
    """The commit measured, and which files differed from it (read-only git)."""

    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "changed": git("status", "--porcelain").splitlines()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--quick", action="store_true", help="a small run (400 citizens, 200 requests, ...) to try it out")
    p.add_argument("--rounds", type=int, default=1, help="rounds of the table, set-ups alternating (1)")
    p.add_argument("--citizens", type=int, help="web citizens that connect (2000)")
    p.add_argument("--connect-concurrency", type=int, default=50, help="connects in flight, all generators (50)")
    p.add_argument("--requests", type=int, help="citizens who ask for help (1000)")
    p.add_argument("--request-concurrency", type=int, default=50, help="request_help in flight, all generators (50)")
    p.add_argument("--pairings", type=int, help="pairings per clerk, one clerk per node (50)")
    p.add_argument("--procs", type=int, default=4, help="citizen generator processes (4)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between the requests and the pairings (2)")
    p.add_argument("--setups", default=",".join(s.name for s in SETUPS), help="which set-ups of the table, in order")
    p.add_argument("--core-reps", type=int, help="repetitions per size of the core measurement (20000)")
    p.add_argument("--failovers", type=int, help="writer kills (3)")
    p.add_argument("--failover-citizens", type=int, default=500, help="prober citizens per fail-over round (500)")
    p.add_argument("--failover-interval", type=float, default=0.05, help="seconds between prober requests (0.05)")
    p.add_argument(
        "--wait-quiet", type=float, default=60.0, help="seconds to wait at most for an idle machine before a phase (60)"
    )
    p.add_argument("--skip", default="", help="comma-separated parts to skip: table, core, failover")
    p.add_argument("--keep", action="store_true", help="keep the databases and Redis keys (for a post-mortem)")
    p.add_argument("--out", type=Path, help="write every figure as JSON to this file")
    p.add_argument("--keep-logs", type=Path, help="copy the servers' logs into this directory")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "citizens": 400 if quick else 2000,
        "requests": 200 if quick else 1000,
        "pairings": 20 if quick else 50,
        "core_reps": 3000 if quick else 20000,
        "failovers": 1 if quick else 3,
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.requests > args.citizens or min(args.citizens, args.procs, args.pairings, args.rounds) < 1:
        p.error("need citizens >= requests, and at least one citizen, generator, pairing and round")
    known = {s.name for s in SETUPS}
    args.setup_list = [s for s in args.setups.split(",") if s]
    if not set(args.setup_list) <= known:
        p.error(f"--setups takes {', '.join(sorted(known))}")
    args.skip_set = {s for s in args.skip.split(",") if s}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    runs: list[dict[str, Any]] = []
    core: dict[str, Any] | None = None
    failover: dict[str, Any] | None = None
    redis_cfg = stores.redis_config()
    code = code_version()
    with tempfile.TemporaryDirectory(prefix="rvw-bench-queue-") as tmp:
        root = Path(tmp)
        if "core" not in args.skip_set:
            wait_quiet(args.wait_quiet)
            log(f"routing core: {args.core_reps:,} repetitions per size")
            core = queue_core.measure((100, 1_000, 10_000), args.core_reps, blocks=10, step_s=0.001)
            log(f"routing core: end_case → offer ratio 10,000/100 = {core['ratio']['end_case']:.2f}")
        if "table" not in args.skip_set:
            by_name = {s.name: s for s in SETUPS}
            for rnd in range(1, args.rounds + 1):
                # Alternate the order between rounds, so that no set-up always runs first or last.
                names = args.setup_list if rnd % 2 else list(reversed(args.setup_list))
                for name in names:
                    runs.append(run_setup(by_name[name], root, rnd, args))
        if "failover" not in args.skip_set:
            failover = run_failover(root, args)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for path in (root / "logs").iterdir():
                (args.keep_logs / path.name).write_bytes(path.read_bytes())
    combined = {
        name: combine([r for r in runs if r["setup"] == name])
        for name in args.setup_list
        if "table" not in args.skip_set
    }
    summ = summary(combined, runs, core, failover)
    text = markdown(combined, runs, core, failover, summ, args)
    print(text)
    problems = [f"{r['setup']} round {r['round']}: {line}" for r in runs for line in r.get("log_problems", [])]
    problems += [f"fail-over: {line}" for line in (failover or {}).get("log_problems", [])]
    if problems:
        log(f"the servers' logs report {len(problems)} problem lines (first 30 per set-up kept); the first:")
        for line in problems[:10]:
            log("    " + line[:300])
    elapsed = time.monotonic() - began
    aims = {k: v for part in summ.values() for k, v in part.get("aims", {}).items()}
    for k, v in aims.items():
        log(f"aim {'met' if v else 'NOT MET'}: {k}")
    log(f"done in {elapsed:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "benchmark": "queue",
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "skip_set"},
            "code": code,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions(), "redis": redis_cfg},
            "elapsed_s": round(elapsed, 1),
            "summary": summ,
            "combined": combined,
            "runs": runs,
            "core": core,
            "failover": failover,
            "markdown": text,
        }
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
        log(f"results written to {args.out}")
    failed = any("error" in r for r in runs) or bool(failover and "error" in failover)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
