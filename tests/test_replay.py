"""Replay determinism: a new writer that loads a snapshot and applies the rest of the command log
gets the same state and events as the writer that applied it all, in any process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queueing.applier import Applier
from queueing.commands import (
    Accept,
    Cancel,
    CitizenConnected,
    CitizenDisconnected,
    ClerkConnected,
    ClerkDisconnected,
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
    decode_command,
    encode_command,
)
from tests.commandgen import OPTIONS, REGIONS, SKILLS

PROJECT = Path(__file__).resolve().parent.parent

citizens = st.sampled_from([f"c{i}" for i in range(6)])
clerks = st.sampled_from([f"k{i}" for i in range(4)])
tickets = st.sampled_from([f"T{i}" for i in range(10)])
nodes = st.sampled_from(["n1", "n2"])
regions = st.sampled_from(REGIONS)
skills = st.sampled_from(SKILLS)
conns = st.builds(lambda n, i: f"{n}/x{i}", nodes, st.integers(0, 3))

addresses = st.sampled_from(["", "a1", "a2"])
resume_ids = st.sampled_from(["r1", "r2", "r3"])

commands = st.one_of(
    st.builds(
        lambda t, c, r, s, p, a: Request(
            ticket_id=t,
            case_id="C" + t[1:],
            citizen_id=c,
            target_region=r,
            skill=s,
            matter_code="M1",
            origin_region="320500",
            channel="web",
            priority=p,
            address=a,
        ),
        tickets,
        citizens,
        regions,
        skills,
        st.sampled_from(["normal", "priority"]),
        addresses,
    ),
    st.builds(
        lambda c, k, resumed, a, r, n: CitizenConnected(
            c, k, resumed, address=a, resume_id=r if resumed else "", next_resume_id=n
        ),
        citizens,
        conns,
        st.booleans(),
        addresses,
        resume_ids,
        resume_ids,
    ),
    st.builds(EndResume, citizens),
    st.builds(CitizenDisconnected, citizens, conns),
    st.builds(
        lambda k, r, ss, p, lv: SetClerk(k, r, tuple(sorted(set(ss))), p, tuple((s, lv) for s in sorted(set(ss)))),
        clerks,
        regions,
        st.lists(skills, min_size=1, max_size=2),
        st.sampled_from(["available", "break", "offline"]),
        st.integers(1, 5),
    ),
    st.builds(ClerkConnected, clerks, conns),
    st.builds(ClerkDisconnected, clerks, conns),
    st.builds(Accept, clerks, tickets),
    st.builds(Decline, clerks, tickets),
    st.builds(lambda k, t: EndCase(k, "C" + t[1:], "resolved"), clerks, tickets),
    st.builds(lambda c, t: HangUp(c, "C" + t[1:]), citizens, tickets),
    st.builds(Cancel, citizens, tickets),
    st.builds(lambda k, t, r, s: Transfer(k, "C" + t[1:], r, s, "M2", "why"), clerks, tickets, regions, skills),
    st.builds(NodeDown, nodes),
    st.just(Tick()),
)


def meaningful(applier: Applier) -> list[st.SearchStrategy[object]]:
    """Commands the current state makes meaningful: answering a real offer, ending a real call."""
    r = applier.router
    offers = sorted((t.offered_to or "", t.ticket_id) for t in r.tickets.values() if t.offered_to)
    cases = sorted((c.clerk_id, c.case_id, c.citizen_id) for c in r.cases.values())
    out: list[st.SearchStrategy[object]] = []
    if offers:
        out.append(st.sampled_from(offers).map(lambda o: Accept(*o)))
        out.append(st.sampled_from(offers).map(lambda o: Decline(*o)))
    if cases:
        out.append(st.sampled_from(cases).map(lambda c: EndCase(c[0], c[1], "resolved")))
        out.append(st.sampled_from(cases).map(lambda c: HangUp(c[2], c[1])))
        out.append(
            st.tuples(st.sampled_from(cases), regions, skills).map(
                lambda x: Transfer(x[0][0], x[0][1], x[1], x[2], "M2", "why")
            )
        )
    return out


def check_invariants(applier: Applier) -> None:
    r = applier.router
    offered = [t.offered_to for t in r.tickets.values() if t.offered_to]
    assert len(offered) == len(set(offered)), "a clerk holds two offers"
    for t in r.tickets.values():
        if t.offered_to:
            assert r.clerks[t.offered_to].offer_ticket == t.ticket_id
    for c in r.clerks.values():
        assert not (c.offer_ticket and c.case_id), "a clerk holds an offer while in a case"
    queued = sorted(tid for entries in r.queues.values() for *_, tid in entries)
    assert queued == sorted(r.tickets)
    # The counts per address and the connections per citizen agree with what they count.
    open_by_address: dict[str, int] = {}
    for t in r.tickets.values():
        if t.address:
            open_by_address[t.address] = open_by_address.get(t.address, 0) + 1
    assert r.open_by_address == open_by_address
    by_address: dict[str, int] = {}
    for conn, address in r.conn_address.items():
        assert conn in r.connections
        by_address[address] = by_address.get(address, 0) + 1
    assert r.conns_by_address == by_address
    for t in r.tickets.values():
        assert len(t.alerted) == len(set(t.alerted)), "a wait alert raised twice"
    citizen_conns: dict[str, list[str]] = {}
    for conn, (role, subject) in r.connections.items():
        if role == "citizen":
            citizen_conns.setdefault(subject, []).append(conn)
    assert {c: sorted(v) for c, v in r.citizen_conns.items()} == {c: sorted(v) for c, v in citizen_conns.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_snapshot_then_replay_gives_the_same_state_and_events(data: st.DataObject) -> None:
    whole = Applier(**OPTIONS)
    entries: list[Envelope] = []
    results = []
    now = 1_790_000_000.0
    for i in range(data.draw(st.integers(1, 120), label="length")):
        now += data.draw(st.floats(0, 20, allow_nan=False), label="dt")
        cmd = data.draw(st.one_of(commands, *meaningful(whole)), label="command")
        entries.append(Envelope(f"cmd{i}", "n1", now, cmd))  # type: ignore[arg-type]
        if data.draw(st.integers(0, 20), label="resend") == 0:  # a lost answer: the same envelope again
            entries.append(entries[-1])
        for env in entries[len(results) :]:
            results.append(whole.apply(env, str(len(results))).encode())
            check_invariants(whole)
    split = data.draw(st.integers(0, len(entries)), label="snapshot after")
    first = Applier(**OPTIONS)
    for i, env in enumerate(entries[:split]):
        first.apply(env, str(i))
    snapshot = json.loads(json.dumps(first.to_dict()))
    second = Applier(**OPTIONS)
    second.load(snapshot)
    assert second.to_dict() == first.to_dict()
    replayed = [second.apply(env, str(split + i)).encode() for i, env in enumerate(entries[split:])]
    assert replayed == results[split:]
    assert second.to_dict() == whole.to_dict()


@given(commands)
def test_commands_cross_the_stream_unchanged(cmd: object) -> None:
    assert decode_command(json.loads(json.dumps(encode_command(cmd)))) == cmd  # type: ignore[arg-type]


def run(seed: str, *args: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-m", "tests.commandgen", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_a_writer_in_another_process_replays_the_same(tmp_path: Path) -> None:
    """Hash seeds differ between processes: a snapshot written under one and replayed under
    another gives the same results and state as one process that applied the whole log."""
    n, k = "3000", "1400"
    snap_a, snap_b = tmp_path / "a.json", tmp_path / "b.json"
    run("1", "11", n, "--stop", k, "--save", str(snap_a))
    run("2", "11", n, "--stop", k, "--save", str(snap_b))
    assert snap_a.read_bytes() == snap_b.read_bytes()
    replayed = run("3", "11", n, "--start", k, "--load", str(snap_a), "--report-from", k)
    whole = run("4", "11", n, "--report-from", k)
    assert replayed == whole
    assert run("5", "11", n, "--report-from", k) == whole
