"""Checks on the Engine.IO transport, before python-socketio reads a packet.

Our protocol has no binary events. python-socketio keeps a binary event's
attachments in memory until as many have arrived as the packet announced, before
any handler of ours could look at it, so one connection could fill the server's
memory with 1 MiB frames. A binary event or ack packet (Socket.IO types 5 and 6,
an attachment count above 0) or a stray binary frame closes the connection at
once, before python-socketio buffers anything. So does a packet that does not
decode, logged in one line instead of a stack trace.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

log = logging.getLogger(__name__)

BINARY_PACKET_TYPES = ("5", "6")  # BINARY_EVENT, BINARY_ACK


CLOSED_KEPT = 10_000  # connections closed for a bad packet, remembered to drop what they send after


def refuse_binary(sio: socketio.AsyncServer) -> None:
    """Put a check in front of python-socketio's Engine.IO message handler (public ``eio.on``).

    A connection closed for a bad packet is sent Engine.IO's close packet; a client that ignores it
    and goes on sending has everything dropped, unread and unlogged, until its transport times out."""
    eio = sio.eio
    deliver: Callable[[str, Any], Awaitable[None]] = eio.handlers["message"]
    closed: OrderedDict[str, None] = OrderedDict()

    async def close(eio_sid: str, why: str) -> None:
        log.info("closing %s: %s", eio_sid, why)
        closed[eio_sid] = None
        while len(closed) > CLOSED_KEPT:
            closed.popitem(last=False)
        await eio.disconnect(eio_sid)

    async def on_message(eio_sid: str, data: Any) -> None:
        if eio_sid in closed:
            return
        if isinstance(data, bytes | bytearray) or (isinstance(data, str) and data[:1] in BINARY_PACKET_TYPES):
            await close(eio_sid, "it sent a binary packet, which this protocol does not have")
            return
        try:
            await deliver(eio_sid, data)
        except Exception as exc:
            # A packet python-socketio cannot decode: broken JSON (ValueError), JSON nested past the
            # recursion limit, an event with no name or no data ("42/citizen,[]": IndexError, TypeError,
            # KeyError inside the library). Our own handlers never raise here (they answer errors), so
            # whatever does is the packet's fault. It would log a stack trace at ERROR for each one
            # (1.6-3.7 MiB of log a second from one connection): one line at INFO, and the connection
            # is closed, so a client cannot flood the log.
            await close(eio_sid, f"undecodable packet ({type(exc).__name__}: {str(exc)[:80]})")

    eio.on("message", on_message)
