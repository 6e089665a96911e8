"""Hostile input and connection races found in review: each of these once failed."""

from __future__ import annotations

import asyncio
import json
import zlib
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
import socketio
from sqlalchemy import text

from queueing.clock import ManualClock
from server.auth import hash_password
from tests.conftest import KIOSK_TOKEN, PASSWORD, Client, Server, refused, start_server, stop_server
from tests.helpers import ask, citizen, clerk_on_duty, matched_case, until, ws_closed


def code(ack: object) -> str:
    assert isinstance(ack, dict) and ack.get("ok") is False, ack
    return str(ack["error"]["code"])


# ---- tokens -------------------------------------------------------------------------------------


async def test_rest_token_with_non_ascii_signature_is_401_not_500(server: Server) -> None:
    # hmac.compare_digest raises TypeError on non-ASCII str: the middleware turns it into 500 unavailable.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.base_url}/api/me", headers={"Authorization": "Bearer abc.\u00e9"}) as resp:
            body = await resp.json()
            assert (resp.status, body["error"]["code"]) == (401, "unauthorized"), (resp.status, body)


async def test_socket_token_with_non_ascii_signature_is_refused_with_a_code(server: Server) -> None:
    # The same TypeError escaped on_connect: no connect_error was sent, the client just timed out.
    assert (await refused(server, "/clerk", {"token": "abc.\u00e9"}))["code"] == "unauthorized"


# ---- reserved event names -----------------------------------------------------------------------


async def test_client_event_named_disconnect_is_refused_not_run(server: Server) -> None:
    # BaseNamespace.trigger_event treats an EVENT packet named "disconnect" like a real disconnect:
    # the connection is forgotten (every later event gets `unauthorized`) and the citizen is marked gone.
    c = await citizen(server)
    ack = await ask(c)
    answer = await c.call_raw("disconnect", {})
    still = await c.call_raw("cancel", {"ticket_id": ack["ticket_id"]})
    assert still == {"ok": True, "ticket_id": ack["ticket_id"]}, f"after 'disconnect' ({answer!r}): {still}"
    assert isinstance(answer, dict) and code(answer) == "bad_request", answer


async def test_client_event_named_connect_cannot_switch_identity_and_leave_a_ghost(
    server: Server, manual_clock: ManualClock
) -> None:
    # An EVENT named "connect" runs on_connect again with client-chosen environ and auth: the socket
    # takes a second citizen identity. When it closes, only the last identity is marked gone, so the
    # first ticket is never abandoned and keeps being offered to clerks (each lapse: clerk on break).
    c = await citizen(server, {"channel": "web", "region": "320500"})
    first = await ask(c)
    answer = await c.call("connect", {}, {"channel": "web", "region": "320500"})
    assert isinstance(answer, dict) and code(answer) == "bad_request", f"'connect' event was run: {answer!r}"
    # Still the same citizen: a second request is refused as such.
    assert code(await c.call_raw("request_help", {"matter_code": "SB-ZY-001", "target_region": "310000"})) == "conflict"
    await c.close()
    await until(server, lambda r: r.tickets[first["ticket_id"]].gone_since is not None, "the drop was noticed")
    manual_clock.advance(31)
    await until(server, lambda r: first["ticket_id"] not in r.tickets, "the first ticket was abandoned")


async def test_non_string_event_name_gets_bad_request(server: Server) -> None:
    # dispatch looks the name up in a dict: an unhashable name (a JSON object or list) raises
    # TypeError outside the handler's try, so the event gets no acknowledgement at all.
    c = await citizen(server)
    try:
        answer = await c.sio.call({"x": 1}, {}, namespace="/citizen", timeout=3)  # type: ignore[arg-type]
    except socketio.exceptions.TimeoutError:
        raise AssertionError("no acknowledgement: the dispatcher raised TypeError") from None
    assert code(answer) == "bad_request", answer


# ---- payload limits -----------------------------------------------------------------------------


async def test_binary_events_close_the_connection(server: Server) -> None:
    # The protocol has no binary events. A binary event or ack packet (attachments announced) or a
    # binary frame closes the connection before python-socketio buffers anything: before, a 512 KiB
    # blob was relayed to the clerk, and a /citizen connection with no log-in could announce many
    # attachments and send 1 MiB frames that were all kept in memory (200 MiB in 3.4 s).
    _clerk, c, case_id = await matched_case(server)
    blob = b"\0" * (512 * 1024)
    with pytest.raises(socketio.exceptions.TimeoutError):
        await c.sio.call(
            "signal", {"case_id": case_id, "candidate": {"candidate": "", "x": blob}}, namespace="/citizen", timeout=3
        )
    for _ in range(100):
        if not c.sio.connected:
            break
        await asyncio.sleep(0.05)
    assert not c.sio.connected, "a binary event was not refused"

    # A raw client: a binary event announcing 100 attachments, then 1 MiB frames, with no log-in.
    url = server.base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    sent = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        await ws.receive()  # the Engine.IO open packet
        await ws.send_str('40/citizen,{"channel":"web","region":"320500"}')
        await ws.receive()  # connected to /citizen
        await ws.send_str('45100-/citizen,["request_help",{"_placeholder":true,"num":0}]')  # 100 attachments
        closed = await asyncio.wait_for(ws_closed(ws), 10)  # at once, before any attachment
        assert closed, "the server kept the connection that announced binary attachments"
        try:  # a client that ignores the close and sends attachments anyway: dropped, unread
            for _ in range(20):
                await ws.send_bytes(b"\x04" + b"\0" * (512 * 1024))
                sent += 1
        except (ConnectionResetError, aiohttp.ClientError):
            pass
    assert sent <= 20
    # The server keeps serving the others.
    other = await citizen(server, {"channel": "web", "region": "320500"})
    assert (await ask(other))["ok"] is True


# ---- routing --------------------------------------------------------------------------------------


async def test_offer_to_a_citizen_who_dropped_cannot_be_accepted(server: Server, manual_clock: ManualClock) -> None:
    # citizen_left only stamps gone_since; an offer already held stays valid, so the clerk answers a
    # citizen who is gone: answered_at counts for the SLA and the case can never be abandoned.
    clerk = await clerk_on_duty(server, "clerk_a")
    c = await citizen(server)
    ack = await ask(c)
    offer = await clerk.wait_for("offer")
    await c.close()
    await until(server, lambda r: r.tickets[ack["ticket_id"]].gone_since is not None, "the drop was noticed")
    answer = await clerk.call_raw("accept", {"ticket_id": offer["ticket_id"]})
    assert answer.get("ok") is False, f"accepted a citizen who is not there: {answer}"


async def test_resume_then_drop_at_once_leaves_the_ticket_present_forever(
    server: Server, manual_clock: ManualClock
) -> None:
    # on_connect defers citizen_returned to _welcome; a disconnect handled in between is undone by
    # it: gone_since is cleared for a citizen who is gone, the ticket is never abandoned and keeps
    # being offered (each lapse puts a clerk on break).
    kiosk = Client(server, "/citizen")
    await kiosk.connect({"channel": "web", "region": "320500"})
    session = await kiosk.wait_for("session")
    ack = await ask(kiosk)
    await kiosk.close()
    await until(server, lambda r: r.tickets[ack["ticket_id"]].gone_since is not None, "the drop was noticed")

    # A flaky kiosk: the resume and the next drop arrive together (one long-polling POST).
    base = f"{server.base_url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            eio_sid = json.loads((await resp.text())[1:])["sid"]
        body = "40/citizen," + json.dumps({"resume_token": session["resume_token"]}) + "\x1e41/citizen,"
        async with http.post(f"{base}&sid={eio_sid}", data=body.encode()) as resp:
            assert resp.status == 200
        received = ""
        while "40/citizen" not in received:  # the resume was accepted (long-poll until the server answers)
            async with http.get(f"{base}&sid={eio_sid}") as resp:
                received += await resp.text()
        citizen_ns = server.services.sio.namespace_handlers["/citizen"]
        hub = server.services.hub
        for _ in range(500):  # both packets handled and every deferred task done
            if not any(c.subject == session["citizen_id"] for c in citizen_ns.conns.values()) and not hub._tasks:
                break
            await asyncio.sleep(0.01)
        gone = await server.read_core(lambda r: r.tickets[ack["ticket_id"]].gone_since)
        assert gone is not None, "the citizen is gone, but the ticket says present: it will never be abandoned"


async def test_request_then_drop_leaves_a_ticket_that_is_never_abandoned(
    server: Server, manual_clock: ManualClock
) -> None:
    # request_help awaits the case insert before it queues the ticket; a disconnect handled in that
    # window finds no ticket to mark gone (citizen_left does nothing), then the ticket is queued as
    # present: it is never abandoned and is offered to clerks for ever.
    c = Client(server, "/citizen")
    await c.connect({"channel": "web", "region": "320500"})
    citizen_id = (await c.wait_for("session"))["citizen_id"]
    await c.sio.emit("request_help", {"matter_code": "SB-ZY-001", "target_region": "310000"}, namespace="/citizen")
    await asyncio.sleep(0)  # one yield so the client's writer sends the event before the disconnect
    await c.sio.disconnect()
    store = server.services.store

    async def settled() -> bool:
        last = await store.latest_of_citizen(citizen_id)
        if last is None:
            return False
        queued = await server.read_core(lambda r: r.ticket_of(citizen_id) is not None)
        return queued or last["outcome"] is not None

    for _ in range(500):
        if await settled():
            break
        await asyncio.sleep(0.01)
    manual_clock.advance(31)
    await until(server, lambda r: r.ticket_of(citizen_id) is None, "the request of a citizen who left was abandoned")


# ---- two nodes on Redis ----------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
async def test_late_drop_on_old_node_abandons_a_citizen_connected_on_another(
    two_nodes: tuple[Server, Server], manual_clock: ManualClock
) -> None:
    # on_disconnect only looks at this node's connections: a kiosk whose network blipped reconnects
    # (resume token) through the load balancer to node b; node a notices the old socket only at its
    # ping time-out and marks the citizen gone; 30 s later the connected, waiting citizen is abandoned.
    a, b = two_nodes
    gone = await citizen(a, {"channel": "web", "region": "320500"})  # really leaves: a yardstick
    gone_ack = await ask(gone)
    await gone.close()
    await until(a, lambda r: r.tickets[gone_ack["ticket_id"]].gone_since is not None, "the drop was noticed")

    old = Client(a, "/citizen")
    await old.connect({"kiosk_token": KIOSK_TOKEN})
    session = await old.wait_for("session")
    ack = await ask(old)
    new = Client(b, "/citizen")
    await new.connect({"resume_token": session["resume_token"]})
    await new.wait_for("queue_update")
    # Node a's ping time-out fires for the old socket (a server-side disconnect, handled inline).
    old_sid = old.sio.get_sid("/citizen")
    await a.services.sio.disconnect(old_sid, namespace="/citizen", ignore_queue=True)

    manual_clock.advance(31)
    await until(a, lambda r: gone_ack["ticket_id"] not in r.tickets, "the citizen who left was abandoned")
    still = await b.read_core(lambda r: ack["ticket_id"] in r.tickets)
    assert still, f"a citizen connected on node b was abandoned: {new.seen('case_ended')}"


# ---- second review -------------------------------------------------------------------------------


async def test_connect_during_a_database_outage_is_refused_as_unavailable(server: Server) -> None:
    # CitizenNamespace.on_connect awaits the kiosk lookup outside any try: a database error escapes
    # as a plain exception, python-socketio only logs it, and the kiosk gets neither CONNECT nor a
    # connect_error -- it hangs until its own time-out instead of reading `unavailable`.
    async with server.services.engine.begin() as db:
        await db.execute(text("DROP TABLE kiosks"))  # the outage: the lookup fails in the database
    assert (await refused(server, "/citizen", {"kiosk_token": KIOSK_TOKEN}))["code"] == "unavailable"


async def test_a_connect_applied_after_its_refusal_is_dropped_again(server: Server) -> None:
    # The connect command reached the queue, but its answer did not come in time (a writer taking
    # over): the citizen was refused `unavailable`, yet the queue applied the connect later and counted
    # the connection for ever (against the limits per address too). Now its drop follows it.
    hub = server.services.hub
    real = hub.submit

    async def applied_then_lost(command: object) -> object:
        result = await real(command)  # type: ignore[arg-type]
        if type(command).__name__ == "CitizenConnected":
            raise RuntimeError("no answer from the writer in time")
        return result

    hub.submit = applied_then_lost  # type: ignore[method-assign]
    try:
        err = await refused(server, "/citizen", {"channel": "web", "region": "320500"})
    finally:
        hub.submit = real  # type: ignore[method-assign]
    assert err["code"] == "unavailable"
    await until(server, lambda r: not r.citizens_online and not r.conns_by_address, "the refused connection dropped")


async def test_console_reloaded_mid_case_gets_the_citizen_in_matched(server: Server) -> None:
    # ClerkNamespace._welcome re-sends `matched` with "citizen": {} and no matter_code, although the
    # contract's `matched` carries citizen {origin_region, channel} and matter_code: after a reload the
    # console cannot say where the citizen is or what the case is about.
    clerk, _kiosk, case_id = await matched_case(server)
    await clerk.close()
    again = Client(server, "/clerk")
    await again.connect({"token": await server.login("clerk_a")})
    resumed = await again.wait_for("matched")
    assert resumed["case_id"] == case_id and resumed["resumed"] is True
    assert resumed["citizen"] == {"origin_region": "320500", "channel": "kiosk"}, resumed
    assert resumed.get("matter_code") == "SB-ZY-001", resumed


async def test_case_number_carries_the_china_date(server: Server, manual_clock: ManualClock) -> None:
    # new_case_id formats the UTC date: from 00:00 to 08:00 China time the 办件编号 on the citizen's
    # receipt names yesterday, while the supervisor wall counts the same case in today (China time).
    manual_clock.advance(2 * 3600)  # 2026-09-21 16:13 UTC = 2026-09-22 00:13 China time
    c = await citizen(server, {"channel": "web", "region": "310104"})
    ack = await ask(c)
    assert ack["case_id"].startswith("RVW20260922"), ack["case_id"]


async def test_abandon_counts_from_when_the_citizen_left(server: Server, manual_clock: ManualClock) -> None:
    """A citizen who leaves 2 s after asking is a short abandon, though the grace ends 30 s later."""
    await server.add_user("boss", "supervisor", "310000", [])
    c = await citizen(server, {"channel": "web", "region": "320500"})
    ack = await ask(c)
    manual_clock.advance(2)
    await c.close()
    await until(server, lambda r: r.tickets[ack["ticket_id"]].gone_since is not None, "the drop was noticed")
    manual_clock.advance(31)
    await until(server, lambda r: ack["ticket_id"] not in r.tickets, "abandoned")
    status, record = await server.get_json(f"/api/cases/{ack['case_id']}", await server.login("boss"))
    assert status == 200 and record["outcome"] == "abandoned"
    waited = datetime.fromisoformat(record["ended_at"]) - datetime.fromisoformat(record["requested_at"])
    assert waited.total_seconds() == 2.0
    assert record["timeline"][-1]["detail"]["gone_since"] == record["ended_at"]
    today = (await server.get_json("/api/dashboard", await server.login("boss")))[1]["today"]
    assert (today["abandoned"], today["short_abandoned"], today["service_level"]) == (1, 1, None)


async def test_hang_up_never_overwrites_the_clerks_outcome(server: Server, manual_clock: ManualClock) -> None:
    clerk, c, case_id = await matched_case(server)
    assert (await c.call("hang_up", {"case_id": case_id}))["ok"] is True
    await clerk.wait_for("case_ended")
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": "ok"}))["ok"] is True
    await server.services.hub.records_settled()
    # The hang-up's line is written again late (as if it lost a race): the clerk's outcome stands.
    await server.services.store.record(
        case_id,
        at=manual_clock.now(),
        event="citizen_hung_up",
        actor="test",
        keep_existing=True,
        outcome="citizen_ended",
    )
    record = await server.services.store.get(case_id)
    assert record is not None and record["outcome"] == "resolved"


async def test_only_a_case_a_clerk_answered_can_be_rated(server: Server, manual_clock: ManualClock) -> None:
    # Before: request_help, cancel, rate, 30 times a second on one connection, all accepted; the
    # positive rating rate on the wall fell from 0.5 to 0.03.
    await server.add_user("boss", "supervisor", "310000", [])
    c = await citizen(server, {"channel": "web", "region": "320500"})
    for _ in range(3):
        ack = await ask(c)
        assert (await c.call("cancel", {"ticket_id": ack["ticket_id"]}))["ok"] is True
        answer = await c.call_raw("rate", {"case_id": ack["case_id"], "level": 1, "comment": ""})
        assert code(answer) == "conflict" and "answered" in answer["error"]["message"], answer
    today = (await server.get_json("/api/dashboard", await server.login("boss")))[1]["today"]
    assert today["rated"] == 0 and today["positive_rate"] is None
    # A served case is rated as before.
    clerk, served, case_id = await matched_case(server)
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": ""}))["ok"] is True
    await served.wait_for("case_ended")
    assert (await served.call("rate", {"case_id": case_id, "level": 5, "comment": ""}))["ok"] is True


async def test_a_browser_cannot_give_itself_priority(server: Server) -> None:
    # Before: a web request with "priority": "priority" went ahead of everyone waiting.
    first = await citizen(server, {"channel": "web", "region": "320500"})
    await ask(first)
    web = await citizen(server, {"channel": "web", "region": "320500"})
    ack = await ask(web, priority="priority")
    assert ack["position"] == 2 and ack["priority"] == "normal", ack
    assert "normal order" in ack["priority_note"]
    # A kiosk (its attendant's choice) still may.
    kiosk = await citizen(server)
    given = await ask(kiosk, priority="priority")
    assert given["position"] == 1 and given["priority"] == "priority" and "priority_note" not in given


async def test_headers_keep_pages_unframed_and_answers_uncached(server: Server) -> None:
    # Before: no CSP, X-Frame-Options, X-Content-Type-Options or Referrer-Policy (the console could be
    # framed to click-jack accept and end-case), Server named versions, and the log-in answer and case
    # records could be cached.
    await server.add_user("boss", "supervisor", "310000", [])
    async with aiohttp.ClientSession() as http:
        for path in ("/console", "/kiosk", "/static/common.js", "/api/matters"):
            async with http.get(server.base_url + path) as resp:
                assert resp.status == 200, path
                h = resp.headers
                assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
                assert "script-src 'self'" in h["Content-Security-Policy"]
                assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
                assert h["Referrer-Policy"] == "no-referrer"
                assert h["Server"] == "rvw", h["Server"]
        login = {"username": "boss", "password": PASSWORD}
        async with http.post(server.base_url + "/api/auth/login", json=login) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        # Answers raised rather than returned carry them too (the probe found a redirect and 404s without).
        for path, status in (("/kiosk?kiosk_token=k_x", 303), ("/no-such-page", 404), ("/api/no-such", 404)):
            async with http.get(server.base_url + path, allow_redirects=False) as resp:
                assert resp.status == status, path
                assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), path
                assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
                assert resp.headers.get("Referrer-Policy") == "no-referrer", path


async def test_log_in_with_absurd_json_is_a_bad_request(server: Server) -> None:
    # Before: JSON nested 20,000 deep, or an integer of 4,300 digits, answered 500.
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for body in ("[" * 20_000 + "]" * 20_000, '{"username": ' + "9" * 4300 + ', "password": "x"}'):
            async with http.post(server.base_url + "/api/auth/login", data=body, headers=headers) as resp:
                assert resp.status == 400, await resp.text()
                assert (await resp.json())["error"]["code"] == "bad_request"
        async with http.get(server.base_url + "/healthz") as resp:
            assert resp.status == 200


async def test_media_reports_cannot_flood_the_timeline(server: Server) -> None:
    # Before: a citizen wrote 491 `media_state failed` rows into their case's timeline in 2.9 s.
    await server.add_user("boss", "supervisor", "310000", [])
    _clerk, c, case_id = await matched_case(server)
    for i in range(60):  # within the per-connection event rate
        state = "failed" if i % 2 else "disconnected"
        assert (await c.call("media_state", {"case_id": case_id, "state": state}))["ok"] is True
    for _ in range(20):  # the same state again and again: one line
        assert (await c.call("media_state", {"case_id": case_id, "state": "disconnected"}))["ok"] is True
    _status, record = await server.get_json(f"/api/cases/{case_id}", await server.login("boss"))
    media = [e for e in record["timeline"] if e["event"].startswith("media_")]
    assert len(media) == 20, len(media)  # the first 20 changes, then nothing more


# Packets that do not decode: broken JSON (the first probe), and events that decode but carry no
# name or no data, and frames that are not Engine.IO at all (the probe run again after the fix:
# TypeError, IndexError and KeyError inside python-socketio, 3.0-3.7 MiB of log a second, and a
# stack trace per connection from the HTTP layer for a frame like "x").
MALFORMED = ['42/citizen,["request_help", {broken', "4", "42/citizen,", "42/citizen,[]", "42/citizen,{}", "x", ""]


@pytest.mark.parametrize("packet", MALFORMED)
async def test_undecodable_packets_close_the_connection_without_stack_traces(
    server: Server, caplog: pytest.LogCaptureFixture, packet: str
) -> None:
    # Before: each malformed packet logged a full stack trace at ERROR, 1.6 MiB of log a second.
    url = server.base_url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive()
        await ws.send_str('40/citizen,{"channel":"web","region":"320500"}')
        await ws.receive()
        caplog.set_level("INFO")
        for _ in range(50):
            try:
                await ws.send_str(packet)
            except (ConnectionResetError, aiohttp.ClientError):
                break
        assert await asyncio.wait_for(ws_closed(ws), 10)
    errors = [r for r in caplog.records if r.levelno >= 40]
    assert errors == [], [r.getMessage() for r in errors][:3]
    lines = [r for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(lines) == 1, "one line for the connection, not one per packet"
    assert all(r.levelname == "INFO" and r.exc_info is None for r in lines)
    other = await citizen(server, {"channel": "web", "region": "320500"})
    assert (await ask(other))["ok"] is True


async def test_log_out_ends_the_session_everywhere(tmp_path: Path, manual_clock: ManualClock) -> None:
    # Before: after log-out the token kept working for its 12 h, on REST and on /clerk.
    runner, server = await start_server(tmp_path, manual_clock, session_check_s=0.1)
    try:
        await server.add_user("boss", "supervisor", "310000", [])
        clerk = await clerk_on_duty(server, "clerk_a")
        token = await server.login("clerk_a")  # a second log-in (another browser) stays valid
        kept = await server.login("clerk_a")
        console = Client(server, "/clerk")
        await console.connect({"token": token})
        await console.wait_for("session")
        assert (await server.get_json("/api/matters", token))[0] == 200
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{server.base_url}/api/auth/logout", headers=headers) as resp:
                assert resp.status == 200
        assert (await console.wait_for("session_ended"))["reason"] == "logged_out"
        for _ in range(100):
            if not console.sio.connected:
                break
            await asyncio.sleep(0.02)
        assert not console.sio.connected, "the logged-out console stayed connected"
        code_, _ = await server.get_json("/api/cases/RVW2026", token)
        assert code_ == 401
        assert (await refused(server, "/clerk", {"token": token}))["code"] == "unauthorized"
        assert (await server.get_json("/api/cases/RVW2026", kept))[0] == 404  # the other session stands
        assert clerk.sio.connected
        # Disabling the user ends every session of theirs; open sockets close within the check interval.
        assert await server.services.directory.disable_user("clerk_a", manual_clock.now())
        await clerk.wait_for("session_ended")
        assert (await server.get_json("/api/cases/RVW2026", kept))[0] == 401
        # A new password ends the old sessions too.
        boss = await server.login("boss")
        await server.services.directory.add_user(
            user_id="uboss",
            username="boss",
            password_hash=hash_password("another-password-2"),
            role="supervisor",
            display_name="boss",
            region="310000",
            skills=[],
            at=manual_clock.now(),
            replace=True,
        )
        assert (await server.get_json("/api/dashboard", boss))[0] == 401
    finally:
        await stop_server(runner, server)


KIOSK_SCRIPT = Path(__file__).resolve().parent.parent / "web" / "static" / "kiosk.js"


async def test_static_files_go_compressed_and_are_checked_on_every_load(server: Server) -> None:
    # Before (bench/kiosk_page.py): scripts and styles went uncompressed (268 kB for the kiosk) and without
    # Cache-Control, so a browser guessed how long to keep them and a kiosk could run an old kiosk.js for days.
    script = KIOSK_SCRIPT.read_bytes()
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(server.base_url + "/static/kiosk.js", headers={"Accept-Encoding": "gzip"}) as resp:
            assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
            assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["Vary"] == "Accept-Encoding"
            body = await resp.read()
            etag = resp.headers["ETag"]
        assert zlib.decompress(body, wbits=47) == script and len(body) < len(script) / 2
        # Checked again: a 304 without a body, and the connection goes on serving.
        for _ in range(2):
            async with http.get(server.base_url + "/static/kiosk.js", headers={"If-None-Match": etag}) as resp:
                assert resp.status == 304 and await resp.read() == b""
        plain = {"Accept-Encoding"}  # a client that takes no compression gets the file as it is
        async with http.get(server.base_url + "/static/style.css", skip_auto_headers=plain) as resp:
            assert resp.status == 200 and "Content-Encoding" not in resp.headers
            assert resp.headers["Cache-Control"] == "no-cache"
        async with http.get(server.base_url + "/api/matters") as resp:
            assert resp.headers["Cache-Control"] == "no-store"
        # The pages go compressed too (they went as they were before).
        async with http.get(server.base_url + "/kiosk", headers={"Accept-Encoding": "gzip"}) as resp:
            assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip", resp.headers
            assert resp.headers["Vary"] == "Accept-Encoding"
            page = zlib.decompress(await resp.read(), wbits=47).decode()
        assert 'id="ask-help"' in page
        async with http.get(server.base_url + "/kiosk", skip_auto_headers=plain) as resp:
            assert resp.status == 200 and "Content-Encoding" not in resp.headers
            assert 'id="ask-help"' in await resp.text()
