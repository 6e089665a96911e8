"""Fuzzing every Socket.IO event with Hypothesis: every answer is an ack with a documented code, nothing is
logged at ERROR, nothing answers 5xx, and the server keeps serving.

How: Hypothesis drives a plain (synchronous) test; the real server (on SQLite, and on PostgreSQL) and its real
python-socketio clients (a web citizen, a kiosk citizen, a logged-in clerk and a supervisor) live on an event
loop in a background thread for the whole fuzz. Each example is a run of steps: an event sent and its ack
awaited through ``asyncio.run_coroutine_threadsafe`` (a lost ack is a timeout, so a failure, never a hang),
now and then after valid events that move the cases along (``World.progress``). The server keeps running
between examples, as in production. Generation is deterministic (``derandomize``, no example database) and
bounded (``max_examples``; RVW_FUZZ_EXAMPLES and RVW_FUZZ_STEPS for a longer hunt, RVW_FUZZ_VERBOSE=1 prints
every event).

Payloads are of two kinds: arbitrary JSON (nested, huge integers, NaN and infinities, which Python's ``json``
writes and reads on both ends, so a hostile client can send them; every code point including lone surrogates and
NUL; long strings; deep nesting), with unknown event names, other roles' events and any number of arguments;
and near-valid ones, built from the pydantic schema each handler parses with (signaling/schemas.py, read from
the live namespaces) with at most one field mutated: wrong type, boundary length or value, odd text, an extra
field, a missing field. Ids are the sender's live ticket or case, or ones the server handed out, so near-valid
events get past validation into the handlers' own checks, the queue and the case records.

Checked for every event: the ack's shape and code (the codes of docs/protocol.md, which must be those of
signaling/const.py); the code the dispatch rules fix (unknown event, another role's, argument count, size,
not JSON, schema); no ``unavailable`` or ``rate_limited``; every fuzzed connection still open; everything the
server sent anyone strict JSON; nothing logged at ERROR. After the fuzz: every connection still answers, every
case touched reads back over REST, /healthz and /readyz answer, and fresh connections get through a whole case.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import threading
import types
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import aiohttp
import annotated_types
import pytest
import socketio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, ValidationError
from pydantic.fields import FieldInfo

from queueing.clock import ManualClock
from signaling import schemas
from signaling.connection import CITIZEN_EVENTS, CLERK_EVENTS, json_size
from signaling.const import (
    BAD_REQUEST,
    CITIZEN_NS,
    CLERK_NS,
    ERROR_CODES,
    FORBIDDEN,
    MAX_EVENT_BYTES,
    RATE_LIMITED,
    SUPERVISOR_NS,
    UNAVAILABLE,
)
from tests.conftest import KIOSK_TOKEN, PG_URL, Client, Server, reset_postgres, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty, matched_case, ws_closed

T = TypeVar("T")
PROJECT = Path(__file__).resolve().parent.parent
VERBOSE = bool(os.environ.get("RVW_FUZZ_VERBOSE"))  # print every event and its answer
ACK_TIMEOUT_S = 5.0  # every ack comes within milliseconds; a missing one is a failure, found in seconds
# Bounded for CI (the file runs in well under a minute); RVW_FUZZ_EXAMPLES=5000 for a longer hunt.
FUZZ_EXAMPLES = int(os.environ.get("RVW_FUZZ_EXAMPLES", "40"))
STEPS_MIN, STEPS_MAX = (int(x) for x in os.environ.get("RVW_FUZZ_STEPS", "8,24").split(","))
SHANGHAI_SKILLS = ["social_insurance", "pension", "medical_insurance", "housing_fund", "household", "business"]
# The per-connection event rate (100/s, burst 200) would answer a fast fuzzer rate_limited and keep its events
# from the handlers; the fuzz raises it so every event reaches the checks behind the rate limit. So for the
# requests for help per citizen and per address (the fuzzed citizens ask again and again, and the manual clock
# never ends a window). tests/test_bad_input.py::test_rate_limit_answers_rate_limited covers the event limit.
FUZZ_LIMITS = {"event_rate": 1e9, "event_burst": 1e9, "requests_per_citizen": 10**9, "requests_per_address": 10**9}


# ---- the documented error codes ------------------------------------------------------------------


def documented_codes() -> set[str]:
    """The codes of the "Error codes" table in docs/protocol.md."""
    text = (PROJECT / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = text.split("### Error codes", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))


def test_error_codes_in_const_match_the_protocol_document() -> None:
    assert documented_codes() == set(ERROR_CODES)
    assert len(ERROR_CODES) == len(set(ERROR_CODES))


def check_ack(ack: Any) -> str:
    """The ack's error code, or "" for success; fails on anything but the two documented shapes."""
    assert isinstance(ack, dict), f"the ack is not one object: {ack!r}"
    json.dumps(ack, allow_nan=False)  # strict JSON: a browser's JSON.parse reads it
    if ack.get("ok") is True:
        assert "error" not in ack, ack
        return ""
    assert ack.get("ok") is False and set(ack) == {"ok", "error"}, ack
    error = ack["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, ack
    assert error["code"] in ERROR_CODES, ack
    assert isinstance(error["message"], str) and error["message"], ack
    return str(error["code"])


# ---- the server on a loop of its own ---------------------------------------------------------------


class LoopThread:
    """An event loop running in a daemon thread; ``run`` waits (bounded) for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzzed-server", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise AssertionError(f"no answer within {timeout} s") from None

    def close(self) -> None:
        async def cancel_the_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await asyncio.get_running_loop().shutdown_asyncgens()

        try:
            self.run(cancel_the_rest(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class FuzzPacket(socketio.packet.Packet):
    """The default packet class looks for binary attachments recursively, two Python frames a level, so it
    cannot send the deep nesting a hostile client can: the fuzz never sends bytes (the transport closes a
    connection that does, signaling/transport.py)."""

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        return False


class FuzzClient(Client):
    def __init__(self, server: Server, namespace: str) -> None:
        super().__init__(server, namespace)
        self.sio.packet_class = FuzzPacket

    async def send(self, event: Any, args: tuple[Any, ...]) -> Any:
        """``event`` with ``args`` as the event's arguments (any number); the ack, or a failure without one."""
        try:
            return await self.sio.call(event, args, namespace=self.namespace, timeout=ACK_TIMEOUT_S)
        except socketio.exceptions.TimeoutError:
            raise AssertionError(
                f"no ack within {ACK_TIMEOUT_S} s for {event!r:.80} (connected: {self.sio.connected})"
            ) from None


IDS = ("ticket_id", "case_id")


@dataclass
class World:
    """The fuzzed server, its clients, and the ids it has handed out (newest last)."""

    server: Server
    actors: dict[str, FuzzClient]
    models: dict[str, dict[str, type[BaseModel]]]  # namespace -> event -> the schema its handler parses
    ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (actor or "", id kind) -> ids
    not_json: list[tuple[str, str, Any]] = field(default_factory=list)  # server events that were not strict JSON
    citizen_ids: dict[str, str] = field(default_factory=dict)  # actor -> citizen id
    clerk_id: str = ""
    moves: int = 0
    held: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (actor, id kind) -> live id
    cases: set[str] = field(default_factory=set)  # every case id seen

    def learn(self, who: str, value: Any) -> None:
        """Keep the ids in what ``who`` received: the newest 8 of each kind, of this actor and of all."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key in IDS and isinstance(item, str) and item:
                    if key == "case_id":
                        self.cases.add(item)
                    for seen in (self.ids.setdefault((who, key), []), self.ids.setdefault(("", key), [])):
                        if item in seen:
                            seen.remove(item)
                        seen.append(item)
                        del seen[:-8]
                else:
                    self.learn(who, item)
        elif isinstance(value, list):
            for item in value:
                self.learn(who, item)

    def live(self, who: str, kind: str) -> str | None:
        """The ticket or case ``who`` held after the last step (read on the server's loop, by ``harvest``)."""
        return self.held.get((who, kind))

    def holds(self, who: str, kind: str) -> str | None:
        """The ticket or case ``who`` holds now, in the queue's state."""
        router = self.server.services.queue.local_router()
        assert router is not None
        if who in self.citizen_ids:
            ticket, case = router.ticket_of(self.citizen_ids[who]), router.case_of_citizen(self.citizen_ids[who])
            if kind == "ticket_id":
                return ticket.ticket_id if ticket else case.ticket_id if case else None
            return case.case_id if case else ticket.case_id if ticket else None
        clerk = router.clerks.get(self.clerk_id)
        if clerk is None:
            return None
        return clerk.offer_ticket if kind == "ticket_id" else clerk.case_id or clerk.wrap_up_case

    async def progress(self) -> list[tuple[str, Any]]:
        """Move the cases along with valid events, as a clerk and citizens would: so that the fuzz meets
        offers, calls, wrap-ups and ended cases, not only an idle queue. Decided from the queue's state,
        never drawn (what Hypothesis draws must not depend on the server)."""
        router = self.server.services.queue.local_router()
        assert router is not None
        acks = []
        self.moves += 1
        clerk, console = router.clerks.get(self.clerk_id), self.actors["clerk"]
        if clerk is None or clerk.status in ("offline", "break"):
            acks.append(("clerk", await console.send("set_status", ({"status": "available"},))))
        elif clerk.offer_ticket:
            acks.append(("clerk", await console.send("accept", ({"ticket_id": clerk.offer_ticket},))))
        elif (clerk.case_id and self.moves % 4 == 0) or clerk.wrap_up_case:  # calls last a while
            end = {"case_id": clerk.case_id or clerk.wrap_up_case, "outcome": "resolved", "notes": "fuzz"}
            acks.append(("clerk", await console.send("end_case", (end,))))
        for who, citizen_id in self.citizen_ids.items():
            if router.ticket_of(citizen_id) is None and router.case_of_citizen(citizen_id) is None:
                ask = {"matter_code": "SB-ZY-001", "target_region": "310000", "priority": "priority"}
                acks.append((who, await self.actors[who].send("request_help", (ask,))))
        for who, ack in acks:
            self.learn(who, ack)
        await self.harvest()
        return acks

    async def step(self, who: str, event: Any, args: tuple[Any, ...]) -> tuple[Any, list[str]]:
        """Send one event; its ack (a failure if none comes), and the actors whose connection closed."""
        ack = await self.actors[who].send(event, args)
        self.learn(who, ack)
        return ack, await self.harvest()

    async def harvest(self) -> list[str]:
        """Learn ids from what the clients received, check it is strict JSON; the actors no longer connected."""
        await asyncio.sleep(0)  # let events that arrived with the last ack be dispatched
        self.held = {(who, kind): self.holds(who, kind) for who in self.actors for kind in IDS}
        for who, client in self.actors.items():
            for name, data in client.events:
                try:
                    json.dumps(data, allow_nan=False)
                except ValueError:
                    self.not_json.append((who, name, data))
                self.learn(who, data)
            client.events.clear()
        return [
            who
            for who, client in self.actors.items()
            if not client.sio.connected or client.namespace not in client.sio.namespaces
        ]


async def make_world(server: Server) -> World:
    await server.add_user("clerk_fuzz", "clerk", "310000", SHANGHAI_SKILLS)
    await server.add_user("boss_fuzz", "supervisor", "delta", [])
    clerk = FuzzClient(server, CLERK_NS)
    await clerk.connect({"token": await server.login("clerk_fuzz")})
    await clerk.wait_for("session")
    web = FuzzClient(server, CITIZEN_NS)
    await web.connect({"channel": "web", "region": "330100"})
    web_id = (await web.wait_for("session"))["citizen_id"]
    kiosk = FuzzClient(server, CITIZEN_NS)
    await kiosk.connect({"kiosk_token": KIOSK_TOKEN})
    kiosk_id = (await kiosk.wait_for("session"))["citizen_id"]
    wall = FuzzClient(server, SUPERVISOR_NS)
    await wall.connect({"token": await server.login("boss_fuzz")})
    await wall.wait_for("dashboard")
    sio = server.services.sio
    models = {
        ns: {event: spec[0] for event, spec in sio.namespace_handlers[ns].handlers.items()}
        for ns in (CITIZEN_NS, CLERK_NS, SUPERVISOR_NS)
    }
    world = World(server, {"web": web, "kiosk": kiosk, "clerk": clerk, "wall": wall}, models)
    world.citizen_ids = {"web": web_id, "kiosk": kiosk_id}
    world.clerk_id = "uclerk_fuzz"  # Server.add_user's id
    # Start with a case to rate (the web citizen's, ended) and a call under way (the kiosk's).
    assert (await clerk.send("set_status", ({"status": "available"},)))["ok"] is True
    for who in ("web", "kiosk"):
        asked = await world.actors[who].send("request_help", ({"matter_code": "SB-ZY-001", "target_region": "310000"},))
        world.learn(who, asked)
        offer = await clerk.wait_for("offer")
        assert (await clerk.send("accept", ({"ticket_id": offer["ticket_id"]},)))["ok"] is True
        await world.actors[who].wait_for("matched")
        if who == "web":
            ended = await clerk.send("end_case", ({"case_id": asked["case_id"], "outcome": "resolved"},))
            assert ended["ok"] is True, ended
    await world.harvest()
    return world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LoopThread, World]]:
    """The fuzzed server on SQLite, and on PostgreSQL (production's database: it refuses what SQLite takes)."""
    loop = LoopThread()

    async def start() -> tuple[Any, Server]:
        options: dict[str, Any] = dict(FUZZ_LIMITS)
        if request.param == "postgres":
            await reset_postgres()
            options["database_url"] = PG_URL
        return await start_server(tmp_path, ManualClock(), **options)

    runner, server = loop.run(start())
    try:
        yield loop, loop.run(make_world(server))
    finally:
        loop.run(stop_server(runner, server))
        loop.close()


# ---- payloads ---------------------------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # every code point: lone surrogates and NUL too
ODD_TEXTS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ud83d\ude00",
    "😀",
    "\u202eevil",
    "\ufeff",
    "\uffff",
    "\U0010ffff",
    "null",
    "__proto__",
    "constructor",
    "'; DROP TABLE cases; --",
    "%s%s%n",
    "{{7*7}}",
    "../../../etc/passwd",
    "\r\n\r\n",
    "RVW" + "0" * 40,
)
DECODABLE_DEPTH = 850
LONG_LENGTHS = (40, 41, 64, 65, 500, 501, 2000, 2001, 60_000, 60_001, 70_000)


def repeat(unit: str, n: int) -> str:
    return unit * n


def nest(depth: int, leaf: Any, as_dict: bool) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_dict else [value]
    return value


# Any code point, and often the ones that break encoders and databases (a lone surrogate in 1.1 million is rare).
ODD_CHARS = ("\x00", "\ud800", "\udfff", "\U0001f600", "\u202e", "\ufffe", "'", "\\", "\n")
odd_chars = st.one_of(ANY_CHAR, st.sampled_from(ODD_CHARS))
short_texts = st.text(odd_chars, max_size=12)
spiked = st.builds(lambda a, c, b: a + c + b, short_texts, st.sampled_from(ODD_CHARS), short_texts)
texts = st.one_of(st.text(ANY_CHAR, max_size=24), st.text(odd_chars, max_size=24), spiked, st.sampled_from(ODD_TEXTS))
# One long string per payload at most: ensure_ascii writes a character as up to 12 bytes, and a packet over
# 1 MiB closes the connection by design (tested elsewhere), not what this fuzz is about.
long_texts = st.builds(repeat, st.sampled_from(["a", "字", "\x00", "\ud800", "😀"]), st.sampled_from(LONG_LENGTHS))
ints = st.one_of(
    st.integers(-(2**70), 2**70),
    # Huge, up to what python-socketio reads: a number of over 100 characters makes the packet undecodable,
    # which closes the connection (signaling/transport.py; test_undecodable_payloads_close_only_their_connection).
    st.integers(-(10**99) + 1, 10**99 - 1),
    st.sampled_from([0, -1, 1, 5, 6, 64, 65, 2**31, 2**53 + 1, 2**63, -(2**63) - 1]),
)
floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]))
leaves = st.one_of(st.none(), st.booleans(), ints, floats, texts)
json_values = st.recursive(
    leaves, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts, kids, max_size=4), max_leaves=12
)
# Nesting deeper than anything real, short of what the server's JSON decoder can read (about 950 levels, its
# recursion limit): deeper is undecodable, see test_undecodable_payloads_close_only_their_connection.
deep_values = st.builds(nest, st.integers(20, DECODABLE_DEPTH), leaves, st.booleans())
hostile = st.one_of(json_values, json_values, json_values, long_texts, deep_values)


@dataclass(frozen=True)
class Spec:
    """One field of a schema, as far as generating values for it goes."""

    name: str
    required: bool
    kind: str  # str | int | literal | model
    nullable: bool = False
    choices: tuple[Any, ...] = ()
    min_len: int = 0
    max_len: int | None = None
    pattern: str | None = None
    ge: int | None = None
    le: int | None = None
    model: type[BaseModel] | None = None
    item: Spec | None = None  # a list's items
    max_items: int | None = None


def spec_of(name: str, info: FieldInfo) -> Spec:
    meta: list[Any] = list(info.metadata)
    ann: Any = info.annotation
    nullable = False
    while True:
        if get_origin(ann) is Annotated:
            ann, *more = get_args(ann)
            meta.extend(more)
        elif get_origin(ann) in (Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(ann))
            assert len(args) == 1, f"{name}: a union this fuzzer does not know"
            ann = args[0]
        else:
            break
    for m in list(meta):
        if isinstance(m, FieldInfo):
            meta.extend(m.metadata)
    spec: dict[str, Any] = {"name": name, "required": info.is_required(), "nullable": nullable}
    for m in meta:
        if isinstance(m, StringConstraints):
            spec.update(min_len=m.min_length or 0, max_len=m.max_length, pattern=m.pattern)
        elif isinstance(m, annotated_types.Ge):
            spec["ge"] = m.ge
        elif isinstance(m, annotated_types.Le):
            spec["le"] = m.le
    if get_origin(ann) is Literal:
        return Spec(kind="literal", choices=get_args(ann), **spec)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return Spec(kind="model", model=ann, **spec)
    if get_origin(ann) is list:
        (item_type,) = get_args(ann)
        item = spec_of(f"{name}[]", FieldInfo.from_annotation(item_type))
        longest = next((m.max_length for m in meta if isinstance(m, annotated_types.MaxLen)), None)
        return Spec(kind="list", item=item, max_items=longest, name=name, required=spec["required"], nullable=nullable)
    if ann is bool:
        return Spec(kind="bool", **spec)
    assert ann in (str, int), f"{name}: a type this fuzzer does not know: {ann!r}"
    return Spec(kind=ann.__name__, **spec)


def specs(model: type[BaseModel]) -> list[Spec]:
    return [spec_of(name, info) for name, info in model.model_fields.items()]


MATTERS = ["SB-ZY-001", "SB-RZ-003", "YB-BA-001", "GJJ-TQ-001", "HJ-QY-001", "SC-BG-001", "SC-SL-002", "NO-SUCH"]
# Mostly Shanghai, where the fuzzed clerk works, so requests are offered and cases move on.
REGIONS = ["310000", "310000", "310115", "320000", "320500", "330100", "340000", "110000"]


def valid(world: World, who: str, model: type[BaseModel], data: st.DataObject) -> dict[str, Any]:
    """A payload ``model`` accepts, with ids ``who`` has seen (mostly)."""
    out: dict[str, Any] = {}
    fields = specs(model)
    needed = {f.name for f in fields if f.required}
    if model is schemas.Signal:  # exactly one of description and candidate (its model validator)
        one = data.draw(st.sampled_from(["description", "candidate"]))
        fields = [f for f in fields if f.name != ("candidate" if one == "description" else "description")]
        needed.add(one)
    for spec in fields:
        if spec.name in needed or data.draw(st.integers(0, 3), label=f"with {spec.name}?"):
            out[spec.name] = valid_value(world, who, spec, data)
    if model.model_config.get("extra") == "allow":
        # What browsers add to a candidate (usernameFragment, ...), as any plain JSON value.
        extras = st.dictionaries(
            st.sampled_from(["usernameFragment", "foundation", "port"]), floats | leaves, max_size=2
        )
        out.update(data.draw(extras, label="extra candidate fields"))
    return out


def valid_value(world: World, who: str, spec: Spec, data: st.DataObject) -> Any:
    if spec.kind == "model":
        assert spec.model is not None
        if spec.nullable and data.draw(st.integers(0, 3)) == 0:
            return None
        return valid(world, who, spec.model, data)
    return data.draw(valid_strategy(world, who, spec), label=spec.name)


def valid_strategy(world: World, who: str, spec: Spec) -> st.SearchStrategy[Any]:
    if spec.name in IDS:
        # An index, not the id itself: what is drawn must not depend on the server's state (Hypothesis checks).
        unknown = "T00000000" if spec.name == "ticket_id" else "RVW20260101000000000000"
        mine, seen = world.ids.get((who, spec.name), []), world.ids.get(("", spec.name), [])

        def pick(i: int) -> str:
            # 0-3: the sender's live ticket or case; 4-5: the newest the sender saw; 6-7: that anyone saw.
            if i < 4:
                return world.live(who, spec.name) or unknown
            ids, i = (mine, i - 4) if i < 6 else (seen, i - 6)
            return ids[-1 - i] if i < len(ids) else unknown

        return st.integers(0, 7).map(pick)
    if spec.name == "matter_code":
        return st.sampled_from(MATTERS)
    if spec.name == "target_region":
        return st.sampled_from(REGIONS)
    if spec.kind == "literal":
        return st.sampled_from(spec.choices)
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "list":
        assert spec.item is not None
        return st.lists(valid_strategy(world, who, spec.item), max_size=spec.max_items or 4)
    if spec.kind == "int":
        return st.integers(spec.ge if spec.ge is not None else -(2**31), spec.le if spec.le is not None else 2**31)
    if spec.pattern:
        return st.from_regex(spec.pattern, fullmatch=True).map(lambda s: s[: spec.max_len])
    # Free text: any the schema allows, and often with a character that breaks encoders or databases.
    return st.one_of(st.text(odd_chars, min_size=spec.min_len, max_size=min(spec.max_len or 64, 64)), spiked)


def wrong_type(spec: Spec) -> st.SearchStrategy[Any]:
    others: dict[str, st.SearchStrategy[Any]] = {
        "str": st.one_of(st.booleans(), ints, floats, st.lists(texts, max_size=2), st.dictionaries(texts, texts)),
        "int": st.one_of(st.booleans(), floats, texts, st.lists(ints, max_size=2)),
        "literal": st.one_of(st.booleans(), ints, floats, st.lists(texts, max_size=2)),
        "model": st.one_of(st.booleans(), ints, texts, st.lists(json_values, max_size=2)),
        "bool": st.one_of(ints, floats, st.sampled_from(["true", "false", "1", ""]), st.lists(ints, max_size=2)),
        "list": st.one_of(st.booleans(), ints, texts, st.dictionaries(texts, texts), st.lists(ints, min_size=1)),
    }
    return others[spec.kind]


def boundary(spec: Spec) -> st.SearchStrategy[Any]:
    if spec.kind == "int":
        edges = [e for e in (spec.ge, spec.le) if e is not None]
        return st.sampled_from([v for e in edges for v in (e - 1, e, e + 1)] + [2**64, -(2**64)])
    if spec.kind == "literal":
        variants = [v for c in spec.choices for v in (c.upper(), f" {c}", f"{c}\x00", c[:-1])]
        return st.sampled_from(variants)
    if spec.kind == "model":
        return st.just({})
    if spec.kind == "bool":
        return st.sampled_from([0, 1, "True", None])
    if spec.kind == "list":
        too_many = (spec.max_items or 8) + 1
        return st.sampled_from([[""], ["a" * 33], ["../x"], ["m"] * too_many])
    lengths = [n for n in (spec.min_len - 1, spec.min_len, spec.max_len, (spec.max_len or 0) + 1) if n and n > 0]
    unit = st.sampled_from(["A", "7"]) if spec.pattern else st.sampled_from(["a", "字", "\x00", "\ud800", "😀"])
    return st.one_of(st.just(""), st.builds(repeat, unit, st.sampled_from(lengths or [1, 65])))


# Valid ones (with hostile text where the schema allows any) often: those reach the handlers and the database.
MUTATIONS = ("none",) * 4 + ("odd_text",) * 2 + ("boundary", "wrong_type", "null", "drop", "extra", "extra_nested")


def near_valid(world: World, who: str, model: type[BaseModel], data: st.DataObject) -> Any:
    payload = valid(world, who, model, data)
    mutation = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    target: dict[str, Any] = payload
    fields = specs(model)
    nested = [f for f in fields if f.kind == "model" and isinstance(payload.get(f.name), dict)]
    if nested and data.draw(st.booleans(), label="mutate a nested object") is True:
        inner = data.draw(st.sampled_from(nested))
        assert inner.model is not None
        target, fields = payload[inner.name], specs(inner.model)
    if mutation == "none" or (not fields and mutation not in ("extra", "extra_nested")):
        return payload
    if mutation in ("extra", "extra_nested"):
        key = data.draw(st.one_of(texts, st.sampled_from([f.name + "_" for f in fields] or ["x"])))
        target[key] = data.draw(json_values if mutation == "extra" else hostile)
        return payload
    spec = data.draw(st.sampled_from(fields), label="field")
    if mutation == "drop":
        target.pop(spec.name, None)
    elif mutation == "null":
        target[spec.name] = None
    elif mutation == "wrong_type":
        target[spec.name] = data.draw(wrong_type(spec))
    elif mutation == "boundary":
        target[spec.name] = data.draw(boundary(spec))
    else:  # odd_text
        target[spec.name] = data.draw(st.one_of(texts, long_texts))
    return payload


OWN_EVENTS = {CITIZEN_NS: sorted(CITIZEN_EVENTS), CLERK_NS: sorted(CLERK_EVENTS), SUPERVISOR_NS: []}
OTHER_EVENTS = {
    CITIZEN_NS: sorted(CLERK_EVENTS - CITIZEN_EVENTS),
    CLERK_NS: sorted(CITIZEN_EVENTS - CLERK_EVENTS),
    SUPERVISOR_NS: sorted(CITIZEN_EVENTS | CLERK_EVENTS),
}
ACTORS = ["clerk", "clerk", "kiosk", "kiosk", "web", "web", "wall"]  # the wall has no events of its own
STRANGE_NAMES = ["connect", "disconnect", "message", "connect_error", "", "*", "session", "offer", "__proto__"]
event_names = st.one_of(st.sampled_from(STRANGE_NAMES), texts, st.sampled_from([None, 0, 1.5, True, [], {}, ["x"]]))


def draw_step(world: World, data: st.DataObject) -> tuple[str, Any, tuple[Any, ...]]:
    """Who sends which event with which arguments."""
    who = data.draw(st.sampled_from(ACTORS), label="who")
    ns = world.actors[who].namespace
    own, other = OWN_EVENTS[ns], OTHER_EVENTS[ns]
    if data.draw(st.integers(0, 4), label="near-valid?") and (own or other):
        event = data.draw(st.sampled_from(own or other), label="event")
        model = world.models[ns].get(event) or world.models[CITIZEN_NS].get(event) or world.models[CLERK_NS][event]
        payload = near_valid(world, who, model, data)
        count = data.draw(st.sampled_from([1, 1, 1, 1, 1, 1, 0, 2]), label="arguments")
        args = (payload,) if count == 1 else () if count == 0 else (payload, data.draw(json_values))
        return who, event, args
    event = data.draw(st.one_of(st.sampled_from(own + other), event_names), label="event")
    values: list[Any] = data.draw(
        st.lists(st.one_of(json_values, deep_values, st.dictionaries(texts, json_values)), max_size=3)
    )
    if values and data.draw(st.booleans(), label="a long string?") is True:  # one at most: see long_texts
        values[data.draw(st.integers(0, len(values) - 1))] = data.draw(long_texts)
    return who, event, tuple(values)


def expected_code(world: World, ns: str, event: Any, args: tuple[Any, ...]) -> str | None:
    """The code the dispatch rules (signaling/connection.py) fix before a handler runs; None: the handler decides."""
    if not isinstance(event, str) or event not in OWN_EVENTS[ns]:
        return FORBIDDEN if isinstance(event, str) and event in OTHER_EVENTS[ns] else BAD_REQUEST
    if len(args) != 1 or not isinstance(args[0], dict) or json_size(args[0], MAX_EVENT_BYTES) > MAX_EVENT_BYTES:
        return BAD_REQUEST
    try:
        json.dumps(args[0], allow_nan=False)
    except ValueError:
        return BAD_REQUEST  # NaN and infinities are not JSON: "the payload is exactly one JSON object"
    try:
        # What the server reads: JSON joins a surrogate pair sent as two escapes into one character.
        world.models[ns][event].model_validate(json.loads(json.dumps(args[0])))
    except ValidationError:
        return BAD_REQUEST
    return None


# ---- the fuzz ---------------------------------------------------------------------------------------


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.name} {r.levelname}: {r.getMessage()}\n{r.exc_text or ''}"
        for r in caplog.records
        if r.levelno >= logging.ERROR
    ]


def test_fuzzed_events_get_documented_answers_and_the_server_keeps_serving(
    world: tuple[LoopThread, World], caplog: pytest.LogCaptureFixture
) -> None:
    loop, w = world
    caplog.set_level(logging.WARNING)
    codes: dict[str, int] = {}
    sent: set[str] = set()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # No shrinking: an example is a step of a long-lived server's history, which shrinking cannot replay;
        # the failing example is reported as found, within the time budget.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        trail: list[str] = []  # what this example sent and got, for the report
        try:
            for _ in range(data.draw(st.integers(STEPS_MIN, STEPS_MAX), label="steps")):
                if data.draw(st.integers(0, 3), label="move the cases along first?") == 0:
                    for _, ack in loop.run(w.progress()):
                        trail.append(f"progress -> {ack!r}")
                        code = check_ack(ack)
                        codes[code or "ok"] = codes.get(code or "ok", 0) + 1
                        assert code not in (UNAVAILABLE, RATE_LIMITED), ack
                who, event, args = draw_step(w, data)
                step = f"{who} {event!r} {args!r}"
                if step in sent:
                    continue  # Hypothesis draws many steps again: send each once, spend the time on new ones
                sent.add(step)
                trail.append(f"{who} {event!r:.80} {args!r:.600}")
                ack, gone = loop.run(w.step(who, event, args), ACK_TIMEOUT_S + 5)
                trail.append(f"  -> {ack!r}")
                if VERBOSE:
                    print(trail[-2][:300], trail[-1][:200])
                code = check_ack(ack)
                codes[code or "ok"] = codes.get(code or "ok", 0) + 1
                assert code not in (UNAVAILABLE, RATE_LIMITED), ack
                expected = expected_code(w, w.actors[who].namespace, event, args)
                codes["reached a handler"] = codes.get("reached a handler", 0) + (expected is None)
                assert expected is None or code == expected, f"expected {expected}"
                assert not gone, f"{gone} lost their connection"
                assert not errors_logged(caplog), errors_logged(caplog)
            assert not w.not_json, f"the server sent what is not JSON: {w.not_json[:3]!r:.2000}"
        except Exception as exc:  # not Hypothesis's own control flow (BaseException)
            failures.append((trail, exc))
            raise

    failures: list[tuple[list[str], Exception]] = []
    try:
        fuzz()
    except Exception:
        if not failures:
            raise
        # Hypothesis replays a failing example to report it, which a server's history cannot repeat:
        # report the first failure itself, with what led to it.
        trail, exc = failures[0]
        logged = [f"{r.name} {r.levelname}: {r.getMessage():.300}" for r in caplog.records[-5:]]
        raise AssertionError(f"{exc!r:.3000}\nafter:\n" + "\n".join([*trail, "log:", *logged])) from exc
    # The fuzz got past the dispatch checks into the handlers, and cases moved along.
    assert codes.get("reached a handler", 0) >= FUZZ_EXAMPLES // 4 and codes.get("ok", 0) >= FUZZ_EXAMPLES // 8, codes
    loop.run(still_serving(w))
    assert not errors_logged(caplog), errors_logged(caplog)


async def still_serving(w: World) -> None:
    """After the fuzz: every fuzzed connection still answers; then fresh connections get through a whole case."""
    server = w.server
    for client in w.actors.values():
        assert check_ack(await client.send("no_such_event", ({},))) == BAD_REQUEST
    for name in ("web", "kiosk", "wall", "clerk"):  # citizens first: away citizens are not offered to anyone
        await w.actors[name].close()
    assert await server.get_json("/healthz") == (200, {"status": "ok"})
    assert (await server.get_json("/readyz"))[0] == 200
    boss = await server.login("boss_fuzz")
    # No 5xx: every case the fuzz touched reads back as JSON.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {boss}"}) as http:
        for case_id in sorted(w.cases):
            async with http.get(f"{server.base_url}/api/cases/{case_id}") as resp:
                assert resp.status == 200, (case_id, resp.status, await resp.text())
                await resp.json()
    assert (await server.get_json("/api/dashboard", boss))[0] == 200
    clerk = await clerk_on_duty(server, "clerk_after", "310000", ["social_insurance"])
    c = await citizen(server, {"channel": "web", "region": "310115"})
    asked = await ask(c)
    offer = await clerk.wait_for("offer")
    assert offer["ticket_id"] == asked["ticket_id"], "the fresh citizen is offered first (fuzzed ones are away)"
    accepted = await clerk.call("accept", {"ticket_id": offer["ticket_id"]})
    assert accepted["ok"] is True and accepted["case_id"] == asked["case_id"], accepted
    await c.wait_for("matched")
    await clerk.wait_for("matched")
    offer_sdp = {"case_id": asked["case_id"], "description": {"type": "offer", "sdp": "v=0\r\n"}}
    assert await clerk.call("signal", offer_sdp) == {"ok": True}
    assert await c.wait_for("signal") == {**offer_sdp, "from": "clerk"}
    ended = await clerk.call("end_case", {"case_id": asked["case_id"], "outcome": "resolved", "notes": "ok"})
    assert ended == {"ok": True, "case_id": asked["case_id"]}
    await c.wait_for("case_ended")
    assert await c.call("rate", {"case_id": asked["case_id"], "level": 5}) == {"ok": True, "case_id": asked["case_id"]}
    status, record = await server.get_json(f"/api/cases/{asked['case_id']}", boss)
    assert status == 200 and record["rating"] == {"level": 5, "comment": ""}, record
    assert [e["event"] for e in record["timeline"]][-2:] == ["ended", "rated"], record["timeline"]


# ---- what the fuzz found ----------------------------------------------------------------------------


async def test_stored_text_refuses_nul(server: Server) -> None:
    # Before: accepted. PostgreSQL's text cannot hold NUL, so the recorder failed on the case's notes and
    # retried for ever: no later case record was written, and every request for help timed out
    # (test_nul_in_notes_does_not_stall_the_case_records below).
    clerk, c, case_id = await matched_case(server)
    for event, payload in (
        ("end_case", {"case_id": case_id, "outcome": "resolved", "notes": "ok\x00"}),
        ("transfer", {"case_id": case_id, "target_region": "320000", "note": "\x00"}),
    ):
        ack = await clerk.call_raw(event, payload)
        assert check_ack(ack) == BAD_REQUEST and "NUL" in ack["error"]["message"], ack
    assert await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": "ok"}) == {
        "ok": True,
        "case_id": case_id,
    }
    await c.wait_for("case_ended")
    ack = await c.call_raw("rate", {"case_id": case_id, "level": 5, "comment": "\x00"})
    assert check_ack(ack) == BAD_REQUEST and "comment" in ack["error"]["message"], ack
    assert await c.call("rate", {"case_id": case_id, "level": 5, "comment": "好"}) == {"ok": True, "case_id": case_id}


@pytest.mark.postgres
async def test_nul_in_notes_does_not_stall_the_case_records(
    tmp_path: Path, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await reset_postgres()
    runner, server = await start_server(tmp_path, manual_clock, database_url=PG_URL)
    try:
        clerk, c, case_id = await matched_case(server)
        notes = {"case_id": case_id, "outcome": "resolved", "notes": "a\x00b"}
        assert check_ack(await clerk.call_raw("end_case", notes)) == BAD_REQUEST
        assert (await clerk.call("end_case", {**notes, "notes": "ab"}))["ok"] is True
        await c.wait_for("case_ended")
        # The case records still move: the next request is answered (its ack waits for its record).
        other = await citizen(server, {"channel": "web", "region": "310115"})
        assert (await asyncio.wait_for(ask(other), 5))["ok"] is True
        await server.add_user("boss", "supervisor", "310000", [])
        status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("boss"))
        assert status == 200 and record["notes"] == "ab", record
        assert not errors_logged(caplog), errors_logged(caplog)
    finally:
        await stop_server(runner, server)


async def test_relayed_candidates_are_strict_json(server: Server) -> None:
    # Before: a candidate field NaN or Infinity was relayed as it came (Python's json writes them), and the
    # other side's JSON.parse failed on the packet: a citizen could break the clerk's console, and back.
    clerk, c, case_id = await matched_case(server)
    for value in (math.nan, math.inf, -math.inf):
        ack = await c.call_raw("signal", {"case_id": case_id, "candidate": {"candidate": "", "port": value}})
        assert check_ack(ack) == BAD_REQUEST and "candidate" in ack["error"]["message"], ack
    plain = {"case_id": case_id, "candidate": {"candidate": "", "port": 9.5, "usernameFragment": "u"}}
    assert await c.call("signal", plain) == {"ok": True}
    relayed = await clerk.wait_for("signal")
    assert relayed["candidate"]["port"] == 9.5 and not clerk.seen("signal"), "only the plain one is relayed"
    json.dumps(relayed, allow_nan=False)


async def test_undecodable_payloads_close_only_their_connection(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: JSON nested past Python's recursion limit (about 950 levels, 2 KB of brackets) raised
    # RecursionError in python-socketio's decoder, which the transport did not catch: a stack trace at
    # ERROR for each such packet, and the connection stayed open to send more. A number of over 100
    # characters (python-socketio refuses to read it) already closed the connection; so does this now.
    caplog.set_level(logging.INFO)
    url = server.base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    payloads = ["[" * n + "]" * n for n in (1_000, 20_000, 200_000)] + ['{"a": ' + "9" * 101 + "}"]
    for payload in payloads:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.receive()
            await ws.send_str('40/citizen,{"channel":"web","region":"320500"}')
            await ws.receive()
            await ws.send_str(f'42/citizen,1["request_help",{payload}]')
            assert await asyncio.wait_for(ws_closed(ws, no_ack_of="43/citizen,1"), 10), (
                f"still open after {payload[:20]}..."
            )
    assert not errors_logged(caplog), errors_logged(caplog)
    lines = [r for r in caplog.records if r.name == "signaling.transport"]
    assert len(lines) == len(payloads), [r.getMessage() for r in lines]
    other = await citizen(server, {"channel": "web", "region": "320500"})
    assert (await ask(other))["ok"] is True
