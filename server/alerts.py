"""The alert webhook: POSTs each alert (``pre_breach``, ``breach``, ``service_level``) to ``RVW_ALERT_WEBHOOK_URL``.

The body is the alert as JSON (:func:`signaling.messages.alert`), signed with
``X-RVW-Signature: sha256=<hex HMAC-SHA256 of the raw body under RVW_ALERT_WEBHOOK_SECRET>``.
A receiver that fails or answers other than 2xx is tried again after 1, 2, 4 and
8 times the back-off base (five tries in all), then the alert is logged and
dropped.

Sending never holds up the queue: the queue sink only puts the alert in a
bounded queue (full: the alert is logged and dropped) and one task posts them,
one at a time, in order. Each alert is sent once however many nodes run: only
the node that holds the writer's lease sends (:meth:`AlertWebhook.lead` runs in
``queue.while_leading``, like the stream recorder); the embedded queue's single
process always does. Across a writer take-over an alert heard by both the old
and the new writer around the hand-over may be sent twice (the receiver can
key on ``ticket_id`` and ``kind``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

import aiohttp

from queueing.commands import Result
from queueing.events import WaitAlert
from signaling import messages

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-RVW-Signature"
TRIES = 5
QUEUE_MAX = 1000
TIMEOUT_S = 10.0


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AlertWebhook:
    """Owns the webhook's outbound queue, its HTTP session and its sending task.

    ``start()`` then ``close()`` (safe twice). ``active`` says whether this node sends:
    set for good with ``leading=True`` (one process), otherwise while :meth:`lead` runs.
    """

    def __init__(
        self, url: str, secret: str, *, backoff_s: float = 1.0, leading: bool = False, tries: int = TRIES
    ) -> None:
        self.url = url
        self.secret = secret
        self.backoff_s = backoff_s
        self.tries = tries
        self.active = leading
        self.sent = 0
        self.failed = 0
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_MAX)
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def accept(self, result: Result) -> None:
        """A queue sink: keep this result's alerts for the sending task (when this node sends)."""
        if not self.active or self._closed:
            return
        for ev in result.events:
            if isinstance(ev, WaitAlert):
                body = json.dumps(messages.alert(ev), ensure_ascii=False, separators=(",", ":")).encode()
                try:
                    self._outbox.put_nowait(body)
                except asyncio.QueueFull:
                    log.warning("alert webhook: %d alerts waiting, dropping one for %s", QUEUE_MAX, ev.ticket.ticket_id)

    def post(self, alert: dict[str, Any]) -> None:
        """Send an alert raised outside the queue (the wall's ``service_level``), when this node sends."""
        if not self.active or self._closed:
            return
        body = json.dumps(alert, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            self._outbox.put_nowait(body)
        except asyncio.QueueFull:
            log.warning("alert webhook: %d alerts waiting, dropping a %s alert", QUEUE_MAX, alert.get("kind"))

    async def lead(self) -> None:
        """Send while this runs: the writer runs it while it holds the lease and cancels it after."""
        self.active = True
        try:
            await asyncio.Event().wait()
        finally:
            self.active = False

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rvw-alert-webhook")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            body = await self._outbox.get()
            if await self._send(body):
                self.sent += 1
            else:
                self.failed += 1
                log.error("alert webhook: giving up on an alert after %d tries: %s", self.tries, body.decode())

    async def _send(self, body: bytes) -> bool:
        assert self._session is not None
        headers: dict[str, Any] = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        for attempt in range(self.tries):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                async with self._session.post(self.url, data=body, headers=headers) as resp:
                    if 200 <= resp.status < 300:
                        return True
                    log.warning("alert webhook: the receiver answered %d (try %d)", resp.status, attempt + 1)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("alert webhook: %s (try %d)", exc or type(exc).__name__, attempt + 1)
        return False
