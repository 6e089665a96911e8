"""The access log: one line per request, without query strings.

A kiosk's token, a resume token or anything else a client puts in a URL must
not end up in log files, where whoever reads the logs could use it: the line
keeps the method, the path, the status, the size and the time taken. A path is
whatever the client sent, so an identity or phone number in it is masked
(``server.privacy``) even where the log handlers do not mask.
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from .privacy import mask


class PathOnlyAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.1fms',
            request.remote,
            request.method,
            mask(request.path),  # the path only: never the query string
            response.status,
            response.body_length,
            time * 1000,
        )
