"""Counters over time, for the limits on log-ins and on requests for help.

A limit is "at most ``limit`` in any ``window_s``", estimated as a sliding window
from two fixed windows (the current one, and the previous one weighted by how
much of it still overlaps). ``take`` counts first and answers whether the count
stayed within the limit, in one step, so that sixty attempts sent at once cannot
all pass before the first is counted. With Redis the counters are shared by
every node (one Lua script per take); without, they live in this process.
Time comes from the replaceable clock, so tests never sleep.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Awaitable, Callable
from typing import Any

from queueing.clock import Clock

_MAX_LOCAL_KEYS = 100_000


class Limiter(abc.ABC):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @abc.abstractmethod
    async def take(self, key: str, limit: int, window_s: float) -> bool:
        """Count one for ``key`` unless that would pass ``limit`` in the window; True if counted."""

    @abc.abstractmethod
    async def give_back(self, key: str, window_s: float) -> None:
        """Undo one ``take`` (a log-in that turned out right is not a failure)."""

    @abc.abstractmethod
    async def count(self, key: str, window_s: float) -> float:
        """The estimated count in the sliding window ending now."""

    async def close(self) -> None:
        return None

    def _slot(self, window_s: float) -> tuple[int, float]:
        now = self.clock.now()
        slot = math.floor(now / window_s)
        return slot, now / window_s - slot  # the window, and how far into it we are


class LocalLimiter(Limiter):
    """One process's counters (the embedded default). Old windows are dropped as they pass."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.counts: dict[tuple[str, int], int] = {}

    def _estimate(self, key: str, slot: int, into: float) -> float:
        return self.counts.get((key, slot), 0) + self.counts.get((key, slot - 1), 0) * (1.0 - into)

    def _sweep(self, slot: int) -> None:
        if len(self.counts) > _MAX_LOCAL_KEYS:
            self.counts = {k: v for k, v in self.counts.items() if k[1] >= slot - 1}

    async def take(self, key: str, limit: int, window_s: float) -> bool:
        slot, into = self._slot(window_s)
        if self._estimate(key, slot, into) + 1 > limit:
            return False
        self._sweep(slot)
        self.counts[(key, slot)] = self.counts.get((key, slot), 0) + 1
        return True

    async def give_back(self, key: str, window_s: float) -> None:
        slot, _ = self._slot(window_s)
        for s in (slot, slot - 1):
            n = self.counts.get((key, s), 0)
            if n > 0:
                self.counts[(key, s)] = n - 1
                return

    async def count(self, key: str, window_s: float) -> float:
        slot, into = self._slot(window_s)
        return self._estimate(key, slot, into)


# KEYS[1] the current window's counter, KEYS[2] the previous one's;
# ARGV: limit, how far into the window (0..1), the counter's lifetime in ms.
_TAKE = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur + prev * (1 - tonumber(ARGV[2])) + 1 > tonumber(ARGV[1]) then
  return 0
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_GIVE_BACK = """
for i = 1, 2 do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n > 0 then
    redis.call('DECR', KEYS[i])
    return 1
  end
end
return 0
"""


class RedisLimiter(Limiter):
    """Counters in Redis, shared by every node; keys expire two windows after their own."""

    def __init__(self, clock: Clock, redis: Any, prefix: str) -> None:
        super().__init__(clock)
        self.redis = redis  # the queue's client and pool (closed with the queue)
        self.prefix = f"{prefix}:limit:"
        self._take = self.redis.register_script(_TAKE)
        self._give_back = self.redis.register_script(_GIVE_BACK)

    async def _again(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Once more after a dropped connection (a Redis restart leaves stale ones in the pool)."""
        from redis.exceptions import ConnectionError as RedisConnectionError

        try:
            return await call()
        except RedisConnectionError:
            return await call()

    def _keys(self, key: str, slot: int) -> list[str]:
        return [f"{self.prefix}{key}:{slot}", f"{self.prefix}{key}:{slot - 1}"]

    async def take(self, key: str, limit: int, window_s: float) -> bool:
        slot, into = self._slot(window_s)
        ttl_ms = int(window_s * 2000) + 1000
        keys, args = self._keys(key, slot), [limit, f"{into:.6f}", ttl_ms]
        return bool(await self._again(lambda: self._take(keys=keys, args=args)))

    async def give_back(self, key: str, window_s: float) -> None:
        slot, _ = self._slot(window_s)
        keys = self._keys(key, slot)
        await self._again(lambda: self._give_back(keys=keys))

    async def count(self, key: str, window_s: float) -> float:
        slot, into = self._slot(window_s)
        keys = self._keys(key, slot)
        cur, prev = await self._again(lambda: self.redis.mget(keys))
        return float(cur or 0) + float(prev or 0) * (1.0 - into)


def make_limiter(clock: Clock, redis: Any | None, prefix: str) -> Limiter:
    """Shared through ``redis`` (a client) when several nodes run; in this process otherwise."""
    return RedisLimiter(clock, redis, prefix) if redis is not None else LocalLimiter(clock)
