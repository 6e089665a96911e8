"""Resume tokens (issue 6, item 8): one live connection per citizen, a token works once, and
it dies with the case. Before: two clients could use one token at once (the second took over
the call's signaling unseen), a token stayed valid after the rating, and every connection
issued a new token while the old one stayed valid."""

from __future__ import annotations

from tests.conftest import KIOSK_TOKEN, Client, Server, refused
from tests.helpers import ask, clerk_on_duty, until


async def matched_with_token(server: Server) -> tuple[Client, Client, str, str]:
    """A clerk and a kiosk citizen in a call, the citizen's resume token, the case id."""
    clerk = await clerk_on_duty(server, "clerk_a")
    c = Client(server, "/citizen")
    await c.connect({"kiosk_token": KIOSK_TOKEN})
    token = (await c.wait_for("session"))["resume_token"]
    await ask(c)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    case_id = (await c.wait_for("matched"))["case_id"]
    return clerk, c, token, case_id


async def resume(server: Server, token: str) -> Client:
    c = Client(server, "/citizen")
    await c.connect({"resume_token": token})
    return c


async def test_a_resume_token_works_once(server: Server) -> None:
    first = Client(server, "/citizen")
    await first.connect({"kiosk_token": KIOSK_TOKEN})
    token = (await first.wait_for("session"))["resume_token"]
    await first.close()
    back = await resume(server, token)
    fresh = (await back.wait_for("session"))["resume_token"]
    assert fresh != token
    err = await refused(server, "/citizen", {"resume_token": token})
    assert err["code"] == "unauthorized" and "used" in err["message"]
    await back.close()
    again = await resume(server, fresh)  # the new one works (once)
    await again.wait_for("session")


async def test_a_newer_connection_replaces_the_older_which_is_told(server: Server) -> None:
    clerk, c, token, case_id = await matched_with_token(server)
    # Someone else gets hold of the token while the citizen is still connected.
    intruder = await resume(server, token)
    assert (await intruder.wait_for("matched"))["case_id"] == case_id
    told = await c.wait_for("replaced")
    assert told["reason"] == "replaced" and told["message"]
    await until(server, lambda r: len(r.citizen_conns.get(r.cases[case_id].citizen_id, [])) == 1, "one connection")
    assert not c.sio.connected or c.sio.namespaces == {}
    # Only the newer connection hears the clerk from now on.
    offer = {"type": "offer", "sdp": "v=0\r\n"}
    ack = await clerk.call("signal", {"case_id": case_id, "description": offer})
    assert ack["ok"] is True, ack
    assert (await intruder.wait_for("signal"))["description"] == offer
    assert c.seen("signal") == []


async def test_the_token_dies_with_the_rated_case(server: Server) -> None:
    clerk, c, token, case_id = await matched_with_token(server)
    assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": ""}))["ok"]
    await c.wait_for("case_ended")
    assert (await c.call("rate", {"case_id": case_id, "level": 5, "comment": ""}))["ok"] is True
    await c.close()
    err = await refused(server, "/citizen", {"resume_token": token})
    assert err["code"] == "unauthorized"


async def test_a_waiting_citizen_resumes_once_with_their_place(server: Server) -> None:
    await clerk_on_duty(server, "clerk_b", region="320000")  # serves another province: nobody is offered
    c = Client(server, "/citizen")
    await c.connect({"kiosk_token": KIOSK_TOKEN})
    token = (await c.wait_for("session"))["resume_token"]
    ticket = (await ask(c))["ticket_id"]
    await c.close()
    back = await resume(server, token)
    session = await back.wait_for("session")
    assert session["resumed_to"] == "waiting"  # the page knows at once; a queue_update follows
    assert (await back.wait_for("queue_update"))["ticket_id"] == ticket
    assert (await refused(server, "/citizen", {"resume_token": token}))["code"] == "unauthorized"
    # Once the ticket is cancelled, the next resume says nothing is open.
    again = session["resume_token"]
    assert (await back.call("cancel", {"ticket_id": ticket}))["ok"] is True
    await back.close()
    last = await resume(server, again)
    assert (await last.wait_for("session"))["resumed_to"] == "none"
    fresh = Client(server, "/citizen")
    await fresh.connect({"kiosk_token": KIOSK_TOKEN})
    assert (await fresh.wait_for("session"))["resumed_to"] is None


async def test_resuming_on_another_node_replaces_the_connection_there(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    c = Client(a, "/citizen")
    await c.connect({"kiosk_token": KIOSK_TOKEN})
    token = (await c.wait_for("session"))["resume_token"]
    ticket = (await ask(c))["ticket_id"]
    other = await resume(b, token)
    assert (await other.wait_for("queue_update"))["ticket_id"] == ticket
    assert (await c.wait_for("replaced"))["reason"] == "replaced"
    assert (await refused(a, "/citizen", {"resume_token": token}))["code"] == "unauthorized"
