"""The one clock the server reads.

All "now" in the server comes from a :class:`Clock`. Production uses
:class:`SystemClock`; tests use :class:`ManualClock` and move time forward by
hand, so offer time-outs and SLA figures are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""

    async def wait(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's time, or earlier.

        Background loops use this between passes. A manual clock returns as
        soon as it is advanced, never because real time went by.
        """


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when :meth:`advance` is called."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self._now += seconds
        self._changed.set()

    async def wait(self, seconds: float) -> None:
        # Cleared after waking, so an advance made while the waiter was busy
        # is not lost: the next wait returns at once.
        await self._changed.wait()
        self._changed.clear()


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso(ts: float | None) -> str | None:
    """ISO 8601 with the UTC offset, or None."""
    if ts is None:
        return None
    return to_datetime(ts).isoformat(timespec="milliseconds")
