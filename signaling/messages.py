"""Every server-to-client message, each built in one place (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from queueing.clock import iso
from queueing.events import ServiceLevelAlert, TicketView, WaitAlert
from server.catalog import Catalog

CITIZEN_ENDED = "citizen_ended"


def queue_update(ticket_id: str, position: int, estimated_wait_s: int | None) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "position": position, "estimated_wait_s": estimated_wait_s}


def offer(catalog: Catalog, t: TicketView, *, now: float, expires_at: float) -> dict[str, Any]:
    matter = catalog.get(t.matter_code)
    return {
        "ticket_id": t.ticket_id,
        "case_id": t.case_id,
        "matter_code": t.matter_code,
        "matter_name": matter.name_zh if matter else t.matter_code,
        "matter_name_en": matter.name_en if matter else t.matter_code,
        "origin_region": t.origin_region,
        "target_region": t.region,
        "channel": t.channel,
        "priority": t.priority,
        "waited_s": round(now - t.requested_at, 1),
        "expires_in_s": round(expires_at - now, 1),
    }


def offer_withdrawn(ticket_id: str, case_id: str, reason: str) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "case_id": case_id, "reason": reason}


def matched_citizen(
    *,
    ticket_id: str,
    case_id: str,
    clerk_name: str,
    clerk_region: str,
    ice_servers: list[dict[str, Any]],
    resumed: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ticket_id": ticket_id,
        "case_id": case_id,
        "clerk": {"display_name": clerk_name, "region": clerk_region},
        "ice_servers": ice_servers,
    }
    if resumed:
        out["resumed"] = True
    return out


def matched_clerk(
    *,
    ticket_id: str,
    case_id: str,
    origin_region: str | None,
    channel: str | None,
    matter_code: str | None,
    ice_servers: list[dict[str, Any]],
    resumed: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ticket_id": ticket_id,
        "case_id": case_id,
        "citizen": {"origin_region": origin_region, "channel": channel},
        "matter_code": matter_code,
        "ice_servers": ice_servers,
    }
    if resumed:
        out["resumed"] = True
    return out


def case_ended(case_id: str, outcome: str, *, ticket_id: str | None = None, resumed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"case_id": case_id, "outcome": outcome}
    if ticket_id is not None:
        out["ticket_id"] = ticket_id
    if resumed:
        out["resumed"] = True
    return out


def status(value: str, reason: str) -> dict[str, Any]:
    return {"status": value, "reason": reason}


def transferred(t: TicketView, note: str) -> dict[str, Any]:
    return {"ticket_id": t.ticket_id, "case_id": t.case_id, "target_region": t.region, "skill": t.skill, "note": note}


def clerk_away(case_id: str, grace_s: float) -> dict[str, Any]:
    return {"case_id": case_id, "grace_s": grace_s}


def chat(case_id: str, text: str, sender: str, at: float) -> dict[str, Any]:
    """A chat line as the other side receives it: ``from`` is ``citizen`` or ``clerk``."""
    return {"case_id": case_id, "text": text, "from": sender, "at": iso(at)}


def consent(case_id: str, recording: bool, policy: str, at: float) -> dict[str, Any]:
    """The citizen's answer about recording, as the clerk hears it. With the ``required`` policy a
    refusal leaves the decision to the clerk (serve without recording, or end the case)."""
    return {"case_id": case_id, "recording": recording, "policy": policy, "at": iso(at)}


def recording_terms(policy: str, keep_days: float) -> dict[str, Any]:
    """What the citizen's page tells before media starts: whether sessions are recorded, and for how long kept."""
    return {"policy": policy, "keep_days": int(keep_days)}


def attachment(stored: dict[str, Any], sender: str) -> dict[str, Any]:
    """A document the other side showed: fetch it with GET /api/attachments/{attachment_id}."""
    return {
        "case_id": stored["case_id"],
        "attachment_id": stored["attachment_id"],
        "content_type": stored["content_type"],
        "bytes": stored["bytes"],
        "from": sender,
    }


def case_ref(case_id: str) -> dict[str, Any]:
    return {"case_id": case_id}


def session_citizen(
    *,
    citizen_id: str,
    resume_token: str,
    origin_region: str,
    channel: str,
    ice_servers: list[dict[str, Any]],
    api_token: str = "",
    recording: dict[str, Any] | None = None,
    resumed_to: str | None = None,
) -> dict[str, Any]:
    """``resumed_to``: on a resumed connection, what the citizen comes back to ("waiting": their ticket, "case": their
    call, "none": nothing is open any more); None on a new connection. A page needs no timer to find out."""
    return {
        "resumed_to": resumed_to,
        "recording": recording or recording_terms("off", 0),
        "citizen_id": citizen_id,
        "resume_token": resume_token,
        "api_token": api_token,
        "origin_region": origin_region,
        "channel": channel,
        "ice_servers": ice_servers,
    }


def session_clerk(
    *,
    clerk_id: str,
    display_name: str,
    region: str,
    skills: list[str],
    ice_servers: list[dict[str, Any]],
    recording: str = "off",
) -> dict[str, Any]:
    return {
        "clerk": {"id": clerk_id, "display_name": display_name, "region": region, "skills": skills},
        "ice_servers": ice_servers,
        "recording": recording,
    }


REPLACED_MESSAGE = (
    "您已在另一处继续本次服务，此页面已断开 / You continued this session somewhere else; this page is disconnected"
)


def replaced() -> dict[str, Any]:
    """To an older connection of a citizen whom a newer one replaced (it is closed next)."""
    return {"reason": "replaced", "message": REPLACED_MESSAGE}


def draining(grace_s: float) -> dict[str, Any]:
    """To every client of a node that is shutting down: its connection closes next; connect again
    (through the load balancer, to another node) with the resume token or log-in. A citizen keeps
    their place for ``grace_s`` seconds."""
    return {"reason": "shutting_down", "reconnect": True, "grace_s": grace_s}


def alert(ev: WaitAlert | ServiceLevelAlert) -> dict[str, Any]:
    """An alert, as the supervisors' wall and the alert webhook receive it."""
    if isinstance(ev, ServiceLevelAlert):
        return {
            "kind": "service_level",
            "at": iso(ev.at),
            "target_region": ev.region,
            "skill": ev.skill,
            "service_level": round(ev.service_level, 4),
            "counted": ev.counted,
            "window_s": ev.window_s,
            "goal": ev.goal,
        }
    return {
        "kind": ev.kind,
        "at": iso(ev.at),
        "target_region": ev.ticket.region,
        "skill": ev.ticket.skill,
        "ticket_id": ev.ticket.ticket_id,
        "case_id": ev.ticket.case_id,
        "waited_s": round(ev.waited_s, 1),
    }
