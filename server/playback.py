"""REST for recorded media (issue 8): the files of a case, and one file streamed with range requests.

Supervisors (of the case's province) and auditors only; every listing and fetch is audited, allowed
or refused. The rows and files are ``recordings.media_index``'s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from .api import ApiError, audited, json_response, require_user
from .catalog import scope_of
from .services import SERVICES, Services

routes = web.RouteTableDef()

READERS = ("supervisor", "auditor")
MEDIA_TYPES = {"webm": "video/webm"}


def _plain_id(raw: str) -> bool:
    return 0 < len(raw) <= 40 and raw.isascii() and raw.isprintable()


@routes.get("/api/cases/{case_id}/recordings")
async def case_recordings(request: web.Request) -> web.Response:
    """The recorded files of a case: one per track and connection, in the order they started."""
    svc: Services = request.app[SERVICES]
    user = await require_user(request)
    case_id = request.match_info["case_id"]
    if user.role not in READERS:
        await audited(request, user, "recording_list", case_id[:40], False)
        raise ApiError(403, "forbidden", "only supervisors and auditors may see a case's recordings")
    await svc.hub.records_settled()
    record = await svc.store.get(case_id) if _plain_id(case_id) else None
    provinces = scope_of(user.region) if user.role == "supervisor" else None
    if record is None or (provinces is not None and record["target_region"] not in provinces):
        await audited(request, user, "recording_list", case_id[:40], False)
        raise ApiError(404, "not_found", "no such case")  # another province's case: as an unknown one
    assert svc.media is not None
    rows = await svc.media.of_case(case_id)
    await audited(request, user, "recording_list", case_id, True)
    return json_response(rows)


@routes.get("/api/recordings/{recording_id}")
async def recording_file(request: web.Request) -> web.StreamResponse:
    """One recorded file (WebM), with range requests for seeking in a player."""
    svc: Services = request.app[SERVICES]
    user = await require_user(request)
    recording_id = request.match_info["recording_id"]
    if user.role not in READERS:
        await audited(request, user, "recording_view", recording_id[:40], False)
        raise ApiError(403, "forbidden", "only supervisors and auditors may play recordings")
    assert svc.media is not None
    found = await svc.media.get(recording_id) if _plain_id(recording_id) and recording_id.isalnum() else None
    provinces = scope_of(user.region) if user.role == "supervisor" else None
    if found is None or (provinces is not None and found["target_region"] not in provinces):
        await audited(request, user, "recording_view", recording_id[:40], False)
        raise ApiError(404, "not_found", "no such recording")
    path = found["path"]
    if not await _exists(path):
        await audited(request, user, "recording_view", recording_id, False)
        raise ApiError(404, "not_found", "the recording's file is gone (removed by retention or not yet written)")
    await audited(request, user, "recording_view", recording_id, True)
    resp = web.FileResponse(path)  # answers Range with 206 and Content-Range
    resp.content_type = MEDIA_TYPES.get(found["container"], "application/octet-stream")
    resp.headers["Content-Disposition"] = f'inline; filename="{recording_id}.{found["container"]}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


async def _exists(path: object) -> bool:
    return await asyncio.to_thread(Path(str(path)).is_file)
