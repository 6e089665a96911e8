"""The writer's lease and the fence on every write it makes (Redis scripts).

One node at a time holds the lease ``<prefix>:lease`` (``node:epoch``, with a
time to live). Taking it increments ``<prefix>:epoch``; every write the writer
makes runs in a script that first checks the epoch is still its own, so a
writer that was paused past its lease (GC, SIGSTOP, a VM hiccup) and wakes up
after another node took over cannot write anything: Redis refuses it with
``FENCED``. A lock without such a token is not safe (Kleppmann, "How to do
distributed locking"); redis-py's ``Lock`` has none, hence these scripts.
"""

from __future__ import annotations

from typing import Any

FENCED = "FENCED"

# KEYS: lease, epoch. ARGV: node, ttl_ms, the epoch this node held (or 0).
# Re-entrant: the holder renews and keeps its epoch; anyone else waits for the lease to lapse.
ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] .. ':' .. ARGV[3] and redis.call('GET', KEYS[2]) == ARGV[3] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(ARGV[3])
  end
  return 0
end
local e = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. e, 'PX', ARGV[2])
return e
"""

# KEYS: lease, epoch. ARGV: node, epoch, ttl_ms. 1 if renewed, 0 if the lease is someone else's.
RENEW = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] .. ':' .. ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: lease. ARGV: node, epoch. Give the lease up at shutdown (only if still ours).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] .. ':' .. ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# Every fenced script starts with this check.
_FENCE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
"""

# KEYS: epoch, events, applied, cases. ARGV: epoch, last command id, maxlen, n results,
# n case ops, then the results' JSON, then case ops as (op, case id, value) triples.
PUBLISH = (
    _FENCE
    + """
local n = tonumber(ARGV[4])
local m = tonumber(ARGV[5])
local ids = {}
for i = 1, n do
  ids[i] = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[5 + i])
end
local base = 5 + n
for j = 0, m - 1 do
  local op = ARGV[base + 3 * j + 1]
  if op == 'set' then
    redis.call('HSET', KEYS[4], ARGV[base + 3 * j + 2], ARGV[base + 3 * j + 3])
  else
    redis.call('HDEL', KEYS[4], ARGV[base + 3 * j + 2])
  end
end
redis.call('SET', KEYS[3], ARGV[2])
return ids
"""
)

# KEYS: epoch, commands. ARGV: epoch, envelope JSON. The writer's own commands (ticks, node_down).
APPEND = (
    _FENCE
    + """
return redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
"""
)

# KEYS: epoch, snapshot, commands. ARGV: epoch, snapshot JSON, trim below this command id.
SNAPSHOT = (
    _FENCE
    + """
redis.call('SET', KEYS[2], ARGV[2])
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[3])
return 1
"""
)

# KEYS: epoch, key. ARGV: epoch, value, ttl_ms.
SET = (
    _FENCE
    + """
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
)


class Fenced(Exception):
    """This writer's epoch is no longer current: another node took the lease."""


def is_fenced(exc: BaseException) -> bool:
    return FENCED in str(exc)


def args(*values: Any) -> list[str]:
    return [str(v) for v in values]
