"""The alert webhook: POSTs each alert (``pre_breach``, ``breach``, ``service_level``) to ``RVW_ALERT_WEBHOOK_URL``.

The body is the alert as JSON (:func:`signaling.messages.alert`), signed with
``X-RVW-Signature: sha256=<hex HMAC-SHA256 of the raw body under RVW_ALERT_WEBHOOK_SECRET>``.
A receiver that fails or answers other than 2xx is tried again after 1, 2, 4 and
8 times the back-off base (five tries in all), then the alert is logged and
dropped.

Sending never holds up the queue: the queue sink only puts the alert in a
bounded queue (full: the alert is logged and dropped) and one task posts them,
one at a time, in order; the embedded queue's single process always sends. With
several nodes each alert is sent once however many nodes run: only the node that
holds the writer's lease sends, reading the events stream from the position the
last sender stored in Redis (:meth:`AlertWebhook.follow`, run in
``queue.while_leading`` like the stream recorder), so a take-over neither skips
nor repeats alerts (but for a node that stops between a receiver's answer and
saving the position: receivers can key on ``kind``, ``ticket_id`` and ``at``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from queueing.commands import Result
from queueing.events import ServiceLevelAlert, WaitAlert
from signaling import messages

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-RVW-Signature"
TRIES = 5
QUEUE_MAX = 1000
TIMEOUT_S = 10.0


def bodies(result: Result) -> list[bytes]:
    """The webhook bodies of a result's alerts (wait and service-level), in order."""
    return [
        json.dumps(messages.alert(ev), ensure_ascii=False, separators=(",", ":")).encode()
        for ev in result.events
        if isinstance(ev, WaitAlert | ServiceLevelAlert)
    ]


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AlertWebhook:
    """Owns the webhook's outbound queue, its HTTP session and its sending task.

    ``start()`` then ``close()`` (safe twice). ``active`` (``leading=True``: one process) says
    that the queue sink sends; with several nodes :meth:`follow` sends instead.
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
        for body in bodies(result):
            try:
                self._outbox.put_nowait(body)
            except asyncio.QueueFull:
                log.warning("alert webhook: %d alerts waiting, dropping one: %s", QUEUE_MAX, body.decode())

    async def follow(
        self,
        read: Callable[[str | None, int], Awaitable[list[tuple[str, Result]]]],
        load_position: Callable[[], Awaitable[str | None]],
        save_position: Callable[[str], Awaitable[None]],
    ) -> None:
        """Several nodes: send from the events stream, from the position the last sender stored.

        The writer's node runs this while it holds the lease (``queue.while_leading``). The position
        is saved after each alert is sent, so a new writer's node goes on after the last alert sent:
        none is skipped at a take-over, and one is sent twice only when a node stops between a
        receiver's 2xx and the save (or two nodes both believe they lead for a moment)."""
        position = await load_position()
        backoff = 0.1
        while True:
            try:
                entries = await read(position, 200)
                for entry_id, result in entries:
                    sent_any = False
                    for body in bodies(result):
                        sent_any = True
                        if await self._send(body):
                            self.sent += 1
                        else:
                            self.failed += 1
                            log.error(
                                "alert webhook: giving up on an alert after %d tries: %s", self.tries, body.decode()
                            )
                    position = entry_id
                    if sent_any:
                        await save_position(position)
                if entries and position is not None:
                    await save_position(position)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert webhook: reading the events stream failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

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
