"""Checks on the Engine.IO transport, before python-socketio reads a packet.

Our protocol has no binary events. python-socketio keeps a binary event's
attachments in memory until as many have arrived as the packet announced, before
any handler of ours could look at it, so one connection could fill the server's
memory with 1 MiB frames. A binary event or ack packet (Socket.IO types 5 and 6,
an attachment count above 0) or a stray binary frame closes the connection at
once, before python-socketio buffers anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

log = logging.getLogger(__name__)

BINARY_PACKET_TYPES = ("5", "6")  # BINARY_EVENT, BINARY_ACK


def refuse_binary(sio: socketio.AsyncServer) -> None:
    """Put a check in front of python-socketio's Engine.IO message handler (public ``eio.on``)."""
    eio = sio.eio
    deliver: Callable[[str, Any], Awaitable[None]] = eio.handlers["message"]

    async def on_message(eio_sid: str, data: Any) -> None:
        if isinstance(data, bytes | bytearray) or (isinstance(data, str) and data[:1] in BINARY_PACKET_TYPES):
            log.info("closing %s: it sent a binary packet, which this protocol does not have", eio_sid)
            await eio.disconnect(eio_sid)
            return
        await deliver(eio_sid, data)

    eio.on("message", on_message)
