"""Nodes die, writers die or stall, Redis goes away: nobody waiting is lost, nothing happens twice.

Every test here runs real `rvw serve` processes (each on its own port, started with
the same command an operator uses) and kills, pauses or cuts them off with real
signals. They necessarily wait for real leases, heartbeats and grace periods, so
those are set short through the environment (TTL 2-6 s, lease 1 s, grace 3-4 s).
Each test stops every process it started, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio
from redis.exceptions import RedisError, ResponseError

from queueing import lease
from recordings.db import make_engine, make_sessionmaker
from recordings.migrate import upgrade
from recordings.store import Directory
from server.auth import hash_password
from tests.conftest import PASSWORD, PG_URL, PROJECT, REDIS_URL, Client, Server, free_port, reset_postgres

RVW = PROJECT / ".venv" / "bin" / "rvw"
SECRET = "failover-test-secret"
SOCIAL = "SB-ZY-001"  # social_insurance
MEDICAL = "YB-BA-001"  # medical_insurance
_HASH = hash_password(PASSWORD)


# ---- processes ------------------------------------------------------------------


def _append_log(path: Path) -> IO[bytes]:
    return path.open("ab")


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RVW_")}
    env.update(extra)
    return env


class Node:
    """One `rvw serve` process; its output goes to a log file the test can read."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.env = {**env, "RVW_NODE_ID": name} if "RVW_REDIS_URL" in env else dict(env)
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.clients: list[socketio.AsyncClient] = []  # what tests.conftest.Client expects of a server
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, within: float = 30.0) -> None:
        """Start the process (the same command every time) and wait until /readyz says ready."""
        log = _append_log(self.log_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                str(RVW),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                env=self.env,
                cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()
        await self.wait_ready(within)

    async def wait_ready(self, within: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.running, f"node {self.name} exited:\n{self.log()[-3000:]}"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base_url}/readyz") as resp:
                        if resp.status == 200:
                            return
                assert loop.time() < deadline, f"node {self.name} not ready in {within} s:\n{self.log()[-3000:]}"
                await asyncio.sleep(0.1)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None and self.running, f"node {self.name} is not running"
        os.kill(self.proc.pid, sig)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        await self.proc.wait()

    async def stop(self) -> None:
        """Whatever state it is in (even stopped): gone."""
        for c in self.clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.disconnect(), 5)
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()

    def log(self) -> str:
        return _read(self.log_path)


async def run_cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    proc = await asyncio.create_subprocess_exec(
        str(RVW),
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 30)
    assert proc.returncode == 0, f"rvw {' '.join(args)} failed: {err.decode()[-2000:]}"
    return out.decode()


async def seed_users(database_url: str, users: list[tuple[str, str, list[str]]]) -> None:
    """Migrate the database and add log-ins (user id "u" + username), before any node starts:
    two nodes starting at once on an empty database would race to migrate it."""
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        directory = Directory(make_sessionmaker(engine))
        for username, role, skills in users:
            await directory.add_user(
                user_id="u" + username,
                username=username,
                password_hash=_HASH,
                role=role,
                display_name=username,
                region="310000",
                skills=skills,
                at=time.time(),
            )
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, prefix: str, **env: str) -> AsyncIterator[tuple[list[Node], aioredis.Redis]]:
    """Two nodes on one Redis and PostgreSQL, started together; killed and their keys deleted after."""
    redis_url = env.pop("RVW_REDIS_URL", REDIS_URL)
    common = base_env(
        RVW_DATABASE_URL=PG_URL,
        RVW_REDIS_URL=redis_url,
        RVW_REDIS_PREFIX=prefix,
        RVW_SECRET_KEY=SECRET,
        RVW_VAR_DIR=str(tmp_path / "var"),
        RVW_POSITION_INTERVAL_SECONDS="0.1",
        **env,
    )
    nodes = [Node(name, common, tmp_path / name) for name in ("n1", "n2")]
    r = aioredis.from_url(redis_url, decode_responses=True)
    try:
        started = await asyncio.gather(*(n.start() for n in nodes), return_exceptions=True)
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield nodes, r
    finally:
        await asyncio.gather(*(n.stop() for n in nodes))
        with contextlib.suppress(RedisError):
            keys = [k async for k in r.scan_iter(f"{prefix}:*")]
            if keys:
                await r.delete(*keys)
        await r.aclose()


async def writer_and_other(r: aioredis.Redis, prefix: str, nodes: list[Node]) -> tuple[Node, Node, int]:
    """The node whose lease is in Redis ("node:epoch"), the other node, and the epoch."""
    holder = await lease_holder(r, prefix)
    writer = next(n for n in nodes if n.name == holder[0])
    other = next(n for n in nodes if n is not writer)
    return writer, other, holder[1]


async def lease_holder(r: aioredis.Redis, prefix: str, not_epoch: int = 0, within: float = 10.0) -> tuple[str, int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        raw = await r.get(f"{prefix}:lease")
        if raw:
            node, _, epoch = str(raw).rpartition(":")
            if int(epoch) != not_epoch:
                return node, int(epoch)
        assert loop.time() < deadline, f"no writer lease other than epoch {not_epoch} (lease: {raw!r})"
        await asyncio.sleep(0.02)


async def published_positions(r: aioredis.Redis, prefix: str) -> list[str]:
    """The command-log position of every result on the events stream, in stream order."""
    entries = await r.xrange(f"{prefix}:events")
    return [str(json.loads(fields["r"])["pos"]) for _, fields in entries]


def stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def assert_published_once_in_order(positions: list[str]) -> None:
    """Each command's result was published once, in log order: a late write by a writer that
    lost its lease would repeat positions a newer writer published, or go back."""
    assert positions, "nothing was published"
    keys = [stream_id(p) for p in positions]
    doubled = sorted({p for p in positions if positions.count(p) > 1})
    assert not doubled, f"results published twice: {doubled}"
    assert keys == sorted(keys), "results published out of log order"


# ---- clients ----------------------------------------------------------------------


class Peer(Client):
    """A test client on a subprocess node that also keeps everything it was sent, in order."""

    def __init__(self, node: Node, namespace: str) -> None:
        # Client needs only ``base_url`` and ``clients`` of its server.
        super().__init__(cast(Server, node), namespace)
        self.history: list[tuple[str, Any]] = []

        @self.sio.on("*", namespace=namespace)
        async def any_event(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            self.history.append((event, data))
            self._changed.set()

    def pop(self, event: str) -> Any:
        """The first received ``event`` not yet consumed, or None (does not wait)."""
        for i, (name, data) in enumerate(self.events):
            if name == event:
                del self.events[i]
                return data
        return None

    async def expect(self, event: str, within: float = 10.0) -> Any:
        """The first ``event`` ever received, waiting for it, without consuming it."""

        async def find() -> Any:
            while True:
                for name, data in self.history:
                    if name == event:
                        return data
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), within)

    def offers(self) -> list[str]:
        return [d["ticket_id"] for n, d in self.history if n == "offer"]

    def assert_one_offer_at_a_time(self) -> None:
        """Never a second offer while one is open; never the same offer twice."""
        open_offer: str | None = None
        for name, data in self.history:
            if name == "offer":
                assert open_offer is None, f"offered {data['ticket_id']} while holding {open_offer}"
                open_offer = data["ticket_id"]
            elif name in ("offer_withdrawn", "matched") and data.get("ticket_id") == open_offer:
                open_offer = None
        offers = self.offers()
        assert len(offers) == len(set(offers)), f"an offer came twice: {offers}"


async def web_citizen(node: Node) -> tuple[Peer, dict[str, Any]]:
    c = Peer(node, "/citizen")
    await c.connect({"channel": "web", "region": "320500"})
    return c, await c.wait_for("session")


async def resumed_citizen(node: Node, resume_token: str) -> tuple[Peer, dict[str, Any]]:
    c = Peer(node, "/citizen")
    await c.connect({"resume_token": resume_token})
    return c, await c.wait_for("session")


async def ask(c: Client, matter: str = SOCIAL) -> dict[str, Any]:
    ack = await c.call("request_help", {"matter_code": matter, "target_region": "310000"})
    assert ack["ok"] is True, ack
    return dict(ack)


async def login(node: Node, username: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{node.base_url}/api/auth/login", json={"username": username, "password": PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["token"])


async def clerk_on_duty(node: Node, username: str) -> Peer:
    clerk = Peer(node, "/clerk")
    await clerk.connect({"token": await login(node, username)})
    await clerk.wait_for("session")
    ack = await clerk.call("set_status", {"status": "available"})
    assert ack["ok"] is True, ack
    return clerk


async def case_record(node: Node, token: str, case_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{node.base_url}/api/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())


async def record_when(
    node: Node, token: str, case_id: str, pred: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    """The case record once ``pred`` holds (the case records trail the queue a little)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        record = await case_record(node, token, case_id)
        if pred(record):
            return record
        assert loop.time() < deadline, f"case {case_id} never got there: {record['timeline']}"
        await asyncio.sleep(0.1)


def events_of(record: dict[str, Any]) -> list[str]:
    return [line["event"] for line in record["timeline"]]


def last_line(record: dict[str, Any], event: str) -> tuple[dict[str, Any], float]:
    """The record's last timeline line, which must be ``event``, and its time (epoch seconds)."""
    line = record["timeline"][-1]
    assert line["event"] == event, record["timeline"]
    return line, datetime.fromisoformat(line["at"]).timestamp()


def offered_to(record: dict[str, Any]) -> list[str]:
    """The clerks a case was offered to, in order, checking the timeline hands it to one at a time:
    every offer ends (declined, expired, withdrawn...) or is answered before the next is made."""
    events = events_of(record)
    assert events.count("requested") == 1, events
    assert events.count("answered") <= 1, events
    holder: str | None = None
    clerks: list[str] = []
    for line in record["timeline"]:
        event = line["event"]
        if event == "offered":
            assert holder is None, f"{record['case_id']} offered to two clerks at once: {events}"
            holder = line["detail"]["clerk_id"]
            clerks.append(holder)
        elif event.startswith("offer_"):
            assert holder == line["detail"]["clerk_id"], f"{record['case_id']}: {events}"
            holder = None
        elif event == "answered":
            assert holder is not None and line["actor"] == f"clerk:{holder}", f"{record['case_id']}: {events}"
            holder = None
    return clerks


async def answer_all(clerks: list[Peer], tickets: set[str], within: float = 20.0) -> dict[str, Peer]:
    """Clerks accept every offer they get, and end each call at once, until all ``tickets`` are
    answered. Every accept must succeed: an offer a clerk holds is theirs alone."""
    answered: dict[str, Peer] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while set(answered) != tickets:
        assert loop.time() < deadline, f"never offered and answered: {sorted(tickets - set(answered))}"
        idle = True
        for clerk in clerks:
            offer = clerk.pop("offer")
            if offer is None:
                continue
            idle = False
            ack = await clerk.call("accept", {"ticket_id": offer["ticket_id"]})
            assert ack["ok"] is True, (offer, ack)
            await clerk.wait_for("matched", lambda d, t=offer["ticket_id"]: d["ticket_id"] == t)
            answered[offer["ticket_id"]] = clerk
            ack = await clerk.call("end_case", {"case_id": offer["case_id"], "outcome": "resolved", "notes": ""})
            assert ack["ok"] is True, ack
        if idle:
            await asyncio.sleep(0.05)
    return answered


# ---- 1. the embedded default ----------------------------------------------------------


async def test_embedded_node_killed_and_restarted_keeps_the_queue(tmp_path: Path) -> None:
    grace = 3.0
    env = base_env(RVW_VAR_DIR=str(tmp_path / "var"), RVW_RECONNECT_GRACE_SECONDS=str(grace))
    # Log-ins made the way an operator makes them, on the same SQLite file the node uses.
    await run_cli(env, "user", "add", "--username", "clerk1", "--role", "clerk", "--region", "310000",
                  "--skills", "social_insurance", "--display-name", "王敏", stdin=PASSWORD)  # fmt: skip
    await run_cli(env, "user", "add", "--username", "boss", "--role", "supervisor", "--region", "310000",
                  "--display-name", "Boss", stdin=PASSWORD)  # fmt: skip
    node = Node("embedded", env, tmp_path)
    try:
        await node.start()
        # Three citizens wait with nobody on duty; a fourth, last, will never come back.
        waiting: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i in range(4):
            c, session = await web_citizen(node)
            ack = await ask(c)
            assert ack["position"] == i + 1, ack
            waiting.append((session, ack))
        first_asked = time.time()
        boss = await login(node, "boss")
        before = {ack["case_id"]: await case_record(node, boss, ack["case_id"]) for _, ack in waiting}

        await node.kill()
        killed_at = time.time()
        await node.start()  # the same command, the same SQLite file and var/

        for i, (session, ack) in enumerate(waiting[:3]):
            c, again = await resumed_citizen(node, session["resume_token"])
            assert again["citizen_id"] == session["citizen_id"]
            update = await c.wait_for("queue_update", lambda d, t=ack["ticket_id"]: d["ticket_id"] == t)
            assert update["position"] == i + 1, (i, update)
        for case_id, old in before.items():
            record = await case_record(node, boss, case_id)
            assert record["requested_at"] == old["requested_at"], record
            assert record["ticket_id"] == old["ticket_id"]
            assert events_of(record) == ["requested"], record["timeline"]  # restored, not requested again

        clerk = await clerk_on_duty(node, "clerk1")
        offer = await clerk.wait_for("offer")
        assert offer["ticket_id"] == waiting[0][1]["ticket_id"], offer
        assert offer["waited_s"] >= time.time() - first_asked - 1.0, offer  # counted from the original request

        # The one who never came back: abandoned once the grace (from the restart) has run out.
        absent = waiting[3][1]["case_id"]
        record = await record_when(node, boss, absent, lambda r: r["outcome"] is not None, within=grace + 5)
        assert record["outcome"] == "abandoned", record
        line, abandoned_at = last_line(record, "abandoned")
        assert abandoned_at >= killed_at + grace - 0.01, (line, killed_at)
        for _, ack in waiting[:3]:
            assert (await case_record(node, boss, ack["case_id"]))["outcome"] is None
    finally:
        await node.stop()


# ---- 2. a gateway node killed ---------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_node_killed_its_offer_moves_and_its_citizens_come_back(tmp_path: Path) -> None:
    ttl, offer_timeout, grace = 2.0, 10.0, 4.0
    await reset_postgres()
    await seed_users(
        PG_URL,
        [
            ("clerk_a", "clerk", ["social_insurance"]),
            ("clerk_b", "clerk", ["social_insurance", "medical_insurance"]),
            ("boss", "supervisor", []),
        ],
    )
    prefix = "rvwfail-" + secrets.token_hex(4)
    async with cluster(
        tmp_path,
        prefix,
        RVW_NODE_TTL_SECONDS=str(ttl),
        RVW_WRITER_LEASE_SECONDS="1",
        RVW_OFFER_TIMEOUT_SECONDS=str(offer_timeout),
        RVW_RECONNECT_GRACE_SECONDS=str(grace),
    ) as (nodes, r):
        # B is the node that dies; it is not the writer (that is the next test).
        a, b, _ = await writer_and_other(r, prefix, nodes)
        clerk_b = await clerk_on_duty(b, "clerk_b")  # idle longest: offered first
        clerk_a = await clerk_on_duty(a, "clerk_a")
        kiosk, _ = await web_citizen(a)
        asked = await ask(kiosk, SOCIAL)
        assert (await clerk_b.wait_for("offer"))["ticket_id"] == asked["ticket_id"]
        # Citizens on B wait in a queue only clerk_b serves (clerk_a would otherwise take them).
        on_b = []
        for i in range(3):
            c, session = await web_citizen(b)
            ack = await ask(c, MEDICAL)
            assert ack["position"] == i + 1, ack
            on_b.append((session, ack))

        await b.kill()
        killed = time.monotonic()
        killed_wall = time.time()
        later, _ = await web_citizen(a)
        later_ack = await ask(later, MEDICAL)
        assert later_ack["position"] == 4, later_ack

        # Two come back through A with their resume tokens, ahead of the later arrival.
        for i, (session, ack) in enumerate(on_b[:2]):
            c, _ = await resumed_citizen(a, session["resume_token"])
            update = await c.wait_for("queue_update", lambda d, t=ack["ticket_id"]: d["ticket_id"] == t)
            assert update["position"] == i + 1, (i, update)

        # The offer B's clerk held goes to the clerk on A once B's heartbeat is stale.
        offer = await clerk_a.wait_for("offer", within=offer_timeout + ttl + 3)
        moved_after = time.monotonic() - killed
        print(f"\noffer moved to node A {moved_after:.2f} s after node B was killed (node TTL {ttl} s)")
        assert offer["ticket_id"] == asked["ticket_id"]
        assert moved_after <= offer_timeout + ttl + 2, moved_after

        # The third never comes back: abandoned after the grace, and the later arrival moves up.
        update = await later.wait_for("queue_update", lambda d: d["position"] == 3, within=grace + ttl + 5)
        assert update["ticket_id"] == later_ack["ticket_id"]
        boss = await login(a, "boss")
        absent = await record_when(a, boss, on_b[2][1]["case_id"], lambda r: r["outcome"] is not None, within=5)
        assert absent["outcome"] == "abandoned", absent
        line, abandoned_at = last_line(absent, "abandoned")
        assert abandoned_at >= killed_wall + grace - 0.01, (line, killed_wall)

        # Their places held: clerk_b, back through A, is offered the first of them.
        clerk_b_again = await clerk_on_duty(a, "clerk_b")
        assert (await clerk_b_again.wait_for("offer"))["ticket_id"] == on_b[0][1]["ticket_id"]

        record = await record_when(a, boss, asked["case_id"], lambda r: "offered" in events_of(r)[2:], within=5)
        assert offered_to(record) == ["uclerk_b", "uclerk_a"]
        assert events_of(record) == ["requested", "offered", "offer_withdrawn", "offered"], record["timeline"]
        for (_, ack), want in zip(on_b, [["uclerk_b"], [], []], strict=True):
            assert offered_to(await case_record(a, boss, ack["case_id"])) == want
        assert_published_once_in_order(await published_positions(r, prefix))


# ---- 3. the writer killed ---------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_writer_killed_requests_meanwhile_wait_and_succeed(tmp_path: Path) -> None:
    ttl, lease_s = 2.0, 1.0
    await reset_postgres()
    clerks = [(name, "clerk", ["social_insurance"]) for name in ("clerk1", "clerk2", "clerk3")]
    await seed_users(PG_URL, [*clerks, ("boss", "supervisor", [])])
    prefix = "rvwfail-" + secrets.token_hex(4)
    async with cluster(
        tmp_path,
        prefix,
        RVW_NODE_TTL_SECONDS=str(ttl),
        RVW_WRITER_LEASE_SECONDS=str(lease_s),
        RVW_SNAPSHOT_SECONDS="1",
        RVW_OFFER_TIMEOUT_SECONDS="15",
    ) as (nodes, r):
        writer, survivor, epoch = await writer_and_other(r, prefix, nodes)
        on_writer = await clerk_on_duty(writer, "clerk3")  # idle longest: offered first
        clerk1 = await clerk_on_duty(survivor, "clerk1")
        before = []
        for _ in range(2):
            c, _ = await web_citizen(survivor)
            before.append(await ask(c))
        assert (await on_writer.wait_for("offer"))["ticket_id"] == before[0]["ticket_id"]
        assert (await clerk1.expect("offer"))["ticket_id"] == before[1]["ticket_id"]  # left for answer_all
        clerk2 = await clerk_on_duty(survivor, "clerk2")
        meanwhile = [(await web_citizen(survivor))[0] for _ in range(4)]

        await writer.kill()
        killed = time.monotonic()

        async def timed_ask(c: Client) -> tuple[float, dict[str, Any]]:
            ack = await c.call("request_help", {"matter_code": SOCIAL, "target_region": "310000"})
            return time.monotonic() - killed, ack

        answers = await asyncio.gather(*(timed_ask(c) for c in meanwhile))
        refused = [ack for _, ack in answers if ack.get("ok") is not True]
        assert not refused, refused
        failover = min(t for t, _ in answers)
        print(f"\nfail-over: {failover:.2f} s from killing the writer to the first command answered by the new one")
        assert failover <= lease_s + 4, failover
        new_holder, new_epoch = await lease_holder(r, prefix, not_epoch=epoch)
        assert (new_holder, new_epoch) == (survivor.name, epoch + 1)

        tickets = {a["ticket_id"] for a in before} | {ack["ticket_id"] for _, ack in answers}
        answered = await answer_all([clerk1, clerk2], tickets, within=ttl + 20)
        assert len(answered) == 6
        for clerk in (on_writer, clerk1, clerk2):
            clerk.assert_one_offer_at_a_time()
        # Each offer reached its clerk once, as the case records say it was made.
        boss = await login(survivor, "boss")
        made: dict[str, list[str]] = {}
        cases = {a["ticket_id"]: a["case_id"] for a in [*before, *(ack for _, ack in answers)]}
        for ticket, case_id in cases.items():
            record = await record_when(survivor, boss, case_id, lambda r: r["outcome"] == "resolved", within=5)
            for clerk_id in offered_to(record):
                made.setdefault(clerk_id, []).append(ticket)
        assert sorted(made.get("uclerk3", [])) == [before[0]["ticket_id"]]
        for name, clerk in (("uclerk1", clerk1), ("uclerk2", clerk2)):
            assert sorted(clerk.offers()) == sorted(made.get(name, [])), name
        assert_published_once_in_order(await published_positions(r, prefix))


# ---- 4. the writer paused past its lease ----------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_writer_paused_past_its_lease_is_fenced(tmp_path: Path) -> None:
    # The node TTL is longer than the pause, so the paused node is not declared dead: this is
    # about its writer's late writes, not about its connections.
    ttl, lease_s, pause = 6.0, 1.0, 2.5
    await reset_postgres()
    clerks = [(name, "clerk", ["social_insurance"]) for name in ("clerk1", "clerk2")]
    await seed_users(PG_URL, [*clerks, ("boss", "supervisor", [])])
    prefix = "rvwfail-" + secrets.token_hex(4)
    async with cluster(
        tmp_path,
        prefix,
        RVW_NODE_TTL_SECONDS=str(ttl),
        RVW_WRITER_LEASE_SECONDS=str(lease_s),
        RVW_SNAPSHOT_SECONDS="1",
        RVW_OFFER_TIMEOUT_SECONDS="15",
    ) as (nodes, r):
        writer, other, epoch = await writer_and_other(r, prefix, nodes)
        on_writer = await clerk_on_duty(writer, "clerk1")  # idle longest: offered first
        on_other = await clerk_on_duty(other, "clerk2")
        first, _ = await web_citizen(other)
        second, _ = await web_citizen(writer)
        asked = [await ask(first), await ask(second)]
        assert (await on_writer.expect("offer"))["ticket_id"] == asked[0]["ticket_id"]
        assert (await on_other.expect("offer"))["ticket_id"] == asked[1]["ticket_id"]
        third, _ = await web_citizen(other)

        writer.signal(signal.SIGSTOP)
        stopped = time.monotonic()
        # Sent at once, this command may reach the paused writer's pending read as well:
        # it applies it when it wakes up, and its write of the result must be refused.
        third_ask = asyncio.ensure_future(ask(third))
        try:
            holder, new_epoch = await lease_holder(r, prefix, not_epoch=epoch, within=lease_s + 5)
            took_over = time.monotonic() - stopped
            assert (holder, new_epoch) == (other.name, epoch + 1)
            asked.append(await third_ask)
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - stopped)))  # stay paused past the lease
        finally:
            writer.signal(signal.SIGCONT)
            third_ask.cancel()  # done by now, unless the test already failed
        print(f"\nthe other node took the lease {took_over:.2f} s after the writer was paused (lease {lease_s} s)")

        # The old writer wakes up, tries to write as epoch `epoch` and is refused.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while f"node {writer.name} lost the queue's writer lease (epoch {epoch})" not in writer.log():
            assert loop.time() < deadline, writer.log()[-3000:]
            await asyncio.sleep(0.05)
        assert await lease_holder(r, prefix) == (other.name, epoch + 1)
        assert int(await r.get(f"{prefix}:epoch")) == epoch + 1
        # What the fence does, shown with the old epoch on the live keys: Redis refuses the write.
        publish = r.register_script(lease.PUBLISH)
        length = await r.xlen(f"{prefix}:events")
        keys = [f"{prefix}:{k}" for k in ("epoch", "events", "applied", "cases")]
        with pytest.raises(ResponseError, match=lease.FENCED):
            await publish(keys=keys, args=lease.args(epoch, "9999999999999-0", 1000, 1, 0, "{}"))
        assert await r.xlen(f"{prefix}:events") == length

        # Nobody was offered anything twice, and the offers made before the pause still stand.
        answered = await answer_all([on_writer, on_other], {a["ticket_id"] for a in asked})
        assert answered[asked[0]["ticket_id"]] is on_writer
        assert answered[asked[1]["ticket_id"]] is on_other
        for clerk in (on_writer, on_other):
            clerk.assert_one_offer_at_a_time()
        boss = await login(other, "boss")
        for a in asked:
            record = await record_when(other, boss, a["case_id"], lambda r: r["outcome"] == "resolved", within=5)
            assert len(offered_to(record)) == 1, record["timeline"]
            assert events_of(record) == ["requested", "offered", "answered", "ended"], record["timeline"]
        for c in (first, second, third):
            assert len([d for n, d in c.history if n == "matched"]) == 1
        assert_published_once_in_order(await published_positions(r, prefix))


# ---- 5. a Redis outage ------------------------------------------------------------------------


class RedisServer:
    """A Redis of the test's own, durable (AOF, fsync on every write), that can be killed and started again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
            "--logfile", str(self.dir / "redis.log"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = aioredis.from_url(self.url)
        try:
            for _ in range(100):
                assert self.proc.returncode is None, _read(self.dir / "redis.log")[-2000:]
                with contextlib.suppress(RedisError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.mark.redis
@pytest.mark.postgres
async def test_redis_outage_is_unavailable_then_every_node_resumes(tmp_path: Path) -> None:
    ttl = 4.0
    redis = RedisServer(tmp_path)
    await redis.start()
    try:
        await reset_postgres()
        await seed_users(PG_URL, [("clerk1", "clerk", ["social_insurance"]), ("boss", "supervisor", [])])
        prefix = "rvwfail-" + secrets.token_hex(4)
        async with cluster(
            tmp_path,
            prefix,
            RVW_REDIS_URL=redis.url,
            RVW_NODE_TTL_SECONDS=str(ttl),
            RVW_WRITER_LEASE_SECONDS="1",
            RVW_SNAPSHOT_SECONDS="1",
        ) as (nodes, r):
            n1, n2 = nodes
            citizens = [(await web_citizen(n))[0] for n in (n1, n2, n1, n2)]
            asked = [await ask(c) for c in citizens[:2]]
            assert [a["position"] for a in asked] == [1, 2]

            await redis.kill()
            down = time.monotonic()
            # A request meanwhile gets a clear answer, soon: not a hang.
            ack = await citizens[2].call("request_help", {"matter_code": SOCIAL, "target_region": "310000"})
            answered_in = time.monotonic() - down
            assert ack["ok"] is False and ack["error"]["code"] == "unavailable", ack
            assert answered_in < 5, answered_in
            # So does a new connection, and the readiness check.
            newcomer = Peer(n2, "/citizen")
            n2.clients.append(newcomer.sio)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await newcomer.connect({"channel": "web", "region": "320500"})
            assert isinstance(newcomer.connect_error, dict) and newcomer.connect_error["code"] == "unavailable"
            async with aiohttp.ClientSession() as http:
                for n in nodes:
                    async with http.get(f"{n.base_url}/readyz") as resp:
                        assert resp.status == 503
                        assert (await resp.json())["checks"]["redis"].startswith("error")
            # Down for longer than the node TTL: nobody's heartbeat could get through meanwhile.
            await asyncio.sleep(max(0.0, ttl - (time.monotonic() - down)))
            # n1's next heartbeat comes only after the writer is back (n1 held, well within the TTL
            # once Redis is up): with the default TTL of 10 s a node beats every 3.3 s and the writer
            # retries every 2 s, so this is the usual order, here made certain.
            n1.signal(signal.SIGSTOP)
            try:
                await redis.start()  # the same port and directory: the AOF brings the queue back
                back = time.monotonic()
                await lease_holder(r, prefix, within=10)
                await asyncio.sleep(0.5)  # the new writer looks at the heartbeats as it takes over
                held = time.monotonic() - back
            finally:
                n1.signal(signal.SIGCONT)
            assert held < ttl - 1, held
            await asyncio.gather(*(n.wait_ready(10) for n in nodes))
            asked += [await ask(c) for c in citizens[2:]]
            assert [a["position"] for a in asked] == [1, 2, 3, 4]  # the earlier tickets are still there
            clerk = await clerk_on_duty(n2, "clerk1")
            await answer_all([clerk], {a["ticket_id"] for a in asked})
            assert clerk.offers() == [a["ticket_id"] for a in asked]  # in their order, each once
            clerk.assert_one_offer_at_a_time()
            for c in citizens:  # nobody was dropped for the outage: each heard of their call once
                assert c.sio.connected
                assert len([d for n, d in c.history if n == "matched"]) == 1
            boss = await login(n1, "boss")
            for a in asked:
                record = await record_when(n1, boss, a["case_id"], lambda r: r["outcome"] == "resolved", within=5)
                assert events_of(record) == ["requested", "offered", "answered", "ended"], record["timeline"]
            assert_published_once_in_order(await published_positions(r, prefix))
            for n in nodes:
                assert n.running
    finally:
        await redis.kill()
