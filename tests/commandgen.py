"""Random command logs for the replay tests, and a command line that applies one.

``python -m tests.commandgen SEED N [--snapshot-at K --load FILE --save FILE]`` applies the
log drawn from SEED and prints a digest of every result and the final state, so
the same log can be applied in processes with different ``PYTHONHASHSEED``
values (what a new writer on another host does) and compared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from typing import Any

from queueing.applier import Applier
from queueing.commands import (
    Accept,
    Cancel,
    CitizenConnected,
    CitizenDisconnected,
    ClerkConnected,
    ClerkDisconnected,
    Command,
    Decline,
    EndCase,
    EndResume,
    Envelope,
    HangUp,
    NodeDown,
    Request,
    SetClerk,
    Tick,
    Transfer,
)
from queueing.routing import Overflow, RoutingPolicy

REGIONS = ["310000", "320000"]
SKILLS = ["social_insurance", "housing_fund", "general"]
POLICY = RoutingPolicy({("310000", "social_insurance"): Overflow(20.0, (("310000", "general"),))})
OPTIONS: dict[str, Any] = {
    "offer_timeout_s": 15.0,
    "reconnect_grace_s": 30.0,
    "max_wait_s": 300.0,
    "position_interval_s": 1.0,
    "policy": POLICY,
    "max_open_per_address": 2,
    "max_connections_per_address": 3,
    "resume_ttl_s": 120.0,
    "prebreach_s": 45.0,
    "sla_s": 60.0,
}


def command(rng: random.Random) -> Command:
    """One command drawn from small pools of ids, so that many of them meet (and some are refused)."""
    citizen = f"c{rng.randrange(8)}"
    clerk = f"k{rng.randrange(5)}"
    ticket = f"T{rng.randrange(12)}"
    case = f"C{ticket[1:]}"
    node = rng.choice(["n1", "n2"])
    roll = rng.random()
    if roll < 0.2:
        return Request(
            ticket_id=ticket,
            case_id=case,
            citizen_id=citizen,
            target_region=rng.choice(REGIONS),
            skill=rng.choice(SKILLS),
            matter_code="M1",
            origin_region="320500",
            channel=rng.choice(["kiosk", "web"]),
            priority=rng.choice(["normal", "normal", "priority"]),
            address=rng.choice(["", "a1", "a2"]),
        )
    if roll < 0.3:
        resumed = rng.random() < 0.3
        return CitizenConnected(
            citizen,
            f"{node}/{citizen}-{rng.randrange(2)}",
            resumed,
            address=rng.choice(["", "a1", "a2"]),
            resume_id=f"r{rng.randrange(3)}" if resumed else "",
            next_resume_id=f"r{rng.randrange(3)}",
        )
    if roll < 0.36:
        return CitizenDisconnected(citizen, f"{node}/{citizen}-{rng.randrange(2)}")
    if roll < 0.46:
        skills = tuple(sorted(set(rng.sample(SKILLS, rng.randrange(1, 3)))))
        levels = tuple((s, rng.randrange(1, 6)) for s in skills)
        return SetClerk(clerk, rng.choice(REGIONS), skills, rng.choice(["available", "available", "break"]), levels)
    if roll < 0.52:
        return ClerkConnected(clerk, f"{node}/{clerk}")
    if roll < 0.55:
        return ClerkDisconnected(clerk, f"{node}/{clerk}")
    if roll < 0.65:
        return Accept(clerk, ticket)
    if roll < 0.69:
        return Decline(clerk, ticket)
    if roll < 0.75:
        return EndCase(clerk, case, rng.choice(["resolved", "referred", "unresolved"]))
    if roll < 0.78:
        return HangUp(citizen, case)
    if roll < 0.81:
        return Cancel(citizen, ticket)
    if roll < 0.83:
        return Transfer(clerk, case, rng.choice(REGIONS), rng.choice(SKILLS), "M2", "needs another desk")
    if roll < 0.84:
        return NodeDown(node)
    if roll < 0.85:
        return EndResume(citizen)
    return Tick()


def likely(rng: random.Random, applier: Applier) -> Command | None:
    """A command that the current state makes meaningful (answer a real offer, end a real case)."""
    r = applier.router
    offers = [(t.offered_to, t.ticket_id) for t in r.tickets.values() if t.offered_to]
    cases = list(r.cases.values())
    roll = rng.random()
    if offers and roll < 0.5:
        clerk, ticket = rng.choice(offers)
        assert clerk is not None
        return Accept(clerk, ticket) if rng.random() < 0.8 else Decline(clerk, ticket)
    if cases and roll < 0.8:
        case = rng.choice(cases)
        if rng.random() < 0.15:
            return Transfer(case.clerk_id, case.case_id, rng.choice(REGIONS), rng.choice(SKILLS), "M2", "why")
        return (
            EndCase(case.clerk_id, case.case_id, "resolved")
            if rng.random() < 0.8
            else HangUp(case.citizen_id, case.case_id)
        )
    return None


def log(seed: int, n: int) -> list[Envelope]:
    """A log of ``n`` commands; time moves forward by up to 4 s between them. Drawn against a
    running copy of the state, so that offers are answered and calls ended, not only refused."""
    rng = random.Random(seed)
    model = Applier(**OPTIONS)
    now = 1_790_000_000.0
    out: list[Envelope] = []
    for i in range(n):
        now += rng.random() * 4
        cmd = (likely(rng, model) if rng.random() < 0.35 else None) or command(rng)
        out.append(Envelope(f"cmd{i}", rng.choice(["n1", "n2"]), round(now, 3), cmd))
        model.apply(out[-1], str(i))
        if rng.random() < 0.03:  # a gateway that lost an answer sends the same command again
            out.append(out[-1])
    return out


def digest(values: list[Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("seed", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--start", type=int, default=0, help="apply from this command on")
    p.add_argument("--stop", type=int, default=None, help="apply up to (not including) this command")
    p.add_argument("--load", help="a snapshot to start from")
    p.add_argument("--save", help="write a snapshot here at the end")
    p.add_argument("--report-from", type=int, default=0, help="digest the results from this command on")
    args = p.parse_args(argv)
    applier = Applier(**OPTIONS)
    if args.load:
        with open(args.load, encoding="utf-8") as f:
            applier.load(json.load(f))
    entries = log(args.seed, args.n)[args.start : args.stop]
    results = [applier.apply(env, str(args.start + i)).encode() for i, env in enumerate(entries)]
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(applier.to_dict(), f)
    reported = results[max(0, args.report_from - args.start) :]
    print(json.dumps({"results": digest(reported), "state": digest([applier.to_dict()])}))


if __name__ == "__main__":
    main(sys.argv[1:])
