"""Simulator benchmark: arrivals simulated per minute of wall time, and long-run agreement with Erlang C.

Throughput is measured on the load of the issue's example (`rvw simulate --arrivals-per-hour 120 --aht-s 360
--clerks 14`: 12 Erlangs, occupancy 0.86), run long enough for ``--arrivals`` arrivals, then at the same
occupancy with more clerks (``--clerks``), since the router's cost per operation grows with them. The aim
(issue 5 §4) is at least 100,000 arrivals a minute.

``--agreement N`` also runs the three loads of ``tests/test_simulator.py`` (3 clerks, AHT 180 s, occupancy
0.5/0.75/0.9, threshold 30 s) for N arrivals each and prints the simulated service level beside Erlang C.

    .venv/bin/python -m bench.simulator
    .venv/bin/python -m bench.simulator --agreement 300000 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

from queueing.erlang import erlang_c
from queueing.simulator import simulate

AIM_PER_MINUTE = 100_000


def throughput(clerks: int, occupancy: float, aht_s: float, arrivals: int, seed: int) -> dict[str, Any]:
    arrivals_per_hour = occupancy * clerks / aht_s * 3600.0
    started = time.perf_counter()
    result = simulate(
        arrivals_per_hour=arrivals_per_hour,
        aht_s=aht_s,
        clerks=clerks,
        duration_s=arrivals / arrivals_per_hour * 3600.0,
        seed=seed,
    )
    wall_s = time.perf_counter() - started
    return {
        "clerks": clerks,
        "arrivals_per_hour": arrivals_per_hour,
        "aht_s": aht_s,
        "arrivals": result.arrivals,
        "wall_s": round(wall_s, 3),
        "arrivals_per_minute": round(result.arrivals / wall_s * 60.0),
    }


def agreement(occupancy: float, arrivals: int, seed: int) -> dict[str, Any]:
    clerks, aht_s, sla_s = 3, 180.0, 30.0
    arrivals_per_hour = occupancy * clerks / aht_s * 3600.0
    result = simulate(
        arrivals_per_hour=arrivals_per_hour,
        aht_s=aht_s,
        clerks=clerks,
        duration_s=arrivals / arrivals_per_hour * 3600.0,
        seed=seed,
        sla_s=sla_s,
        warmup_s=5 * aht_s,
    )
    nominal = erlang_c(arrivals_per_hour, aht_s, clerks, sla_s)
    assert result.service_level is not None and result.mean_handle_s is not None
    measured = erlang_c(result.arrivals_per_hour_measured, result.mean_handle_s, clerks, sla_s)
    return {
        "occupancy": occupancy,
        "arrivals": result.arrivals,
        "simulated_service_level": round(result.service_level, 4),
        "erlang_c_service_level": round(nominal.service_level, 4),
        "erlang_c_at_measured_load": round(measured.service_level, 4),
        "difference_points": round(100 * (result.service_level - nominal.service_level), 2),
        "simulated_asa_s": round(result.asa_s or 0.0, 1),
        "erlang_c_asa_s": round(nominal.asa_s, 1),
        "simulated_occupancy": round(result.occupancy, 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--arrivals", type=int, default=120_000, help="arrivals per throughput run")
    p.add_argument("--clerks", default="14,100,500", help="comma-separated staffing levels to time")
    p.add_argument("--agreement", type=int, default=0, metavar="N", help="also run the three loads, N arrivals each")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    runs = []
    for clerks in (int(c) for c in args.clerks.split(",") if c.strip()):
        runs.append(throughput(clerks, 12 / 14, 360.0, args.arrivals, args.seed))
        if not args.json:
            r = runs[-1]
            verdict = "ok" if r["arrivals_per_minute"] >= AIM_PER_MINUTE else f"below the aim of {AIM_PER_MINUTE:,}"
            print(
                f"{r['clerks']:>5} clerks: {r['arrivals']:,} arrivals in {r['wall_s']:.1f} s = "
                f"{r['arrivals_per_minute']:,} arrivals/min ({verdict})",
                flush=True,
            )
    loads = []
    for occupancy in (0.5, 0.75, 0.9) if args.agreement else ():
        loads.append(agreement(occupancy, args.agreement, args.seed))
        if not args.json:
            a = loads[-1]
            print(
                f"occupancy {occupancy}: {a['arrivals']:,} arrivals, service level {a['simulated_service_level']:.4f}"
                f" vs Erlang C {a['erlang_c_service_level']:.4f} ({a['difference_points']:+.2f} points; "
                f"{a['erlang_c_at_measured_load']:.4f} at the load drawn), ASA {a['simulated_asa_s']} s vs "
                f"{a['erlang_c_asa_s']} s",
                flush=True,
            )
    if args.json:
        machine = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()}
        print(json.dumps({"machine": machine, "throughput": runs, "agreement": loads}, indent=2))


if __name__ == "__main__":
    main()
