"""REST for the clerk console: ``GET /api/clerk/day``, the logged-in clerk's own figures of the current China day.

The figures are one SQL aggregate over the case records and their timelines (``recordings.figures.clerk_day``);
"today" is the China day (UTC+8, no daylight saving) of the server's clock, so tests move it by hand. The answer
holds counts of the clerk's own work and no one's personal data: it is not put in the audit log, which a console
reading it again after every case would fill with lines that say nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from recordings.figures import clerk_day
from signaling.wall import start_of_day

from .api import ApiError, json_response, require_user
from .services import SERVICES, Services
from .supervision import CHINA

routes = web.RouteTableDef()


@routes.get("/api/clerk/day")
async def get_clerk_day(request: web.Request) -> web.Response:
    """``{"date", "cases", "ended", "resolved", "handle_s_avg", "ratings": {"count", "average", "poor"}}`` of the
    calling clerk (docs/protocol.md, REST); 401 without a log-in, 403 for other roles, 400 given any parameter."""
    user = await require_user(request, "clerk")
    if request.query:
        raise ApiError(400, "bad_request", "this route takes no parameters: it answers for today (China time)")
    svc: Services = request.app[SERVICES]
    now = svc.clock.now()
    start = start_of_day(now)
    await svc.hub.records_settled()  # the case the clerk just ended is counted
    day = await clerk_day(svc.store.sessions, user.id, start, start + 86400)
    return json_response({"date": datetime.fromtimestamp(now, UTC).astimezone(CHINA).date().isoformat(), **day})
