"""The writer's state machine: the routing core, log time, and the answers already given.

Both writers (the embedded one and the elected Redis one) apply commands
through an :class:`Applier`, so both have the same rules: log time never goes
back, and a command id seen before is answered again with its first reply and
no effects (a gateway that lost an answer may send the same command twice).
Its state snapshots to JSON and loads back exactly.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

from .commands import Envelope, Result, execute
from .routing import Router

# Answers kept for retried commands: a gateway re-sends within RVW_SUBMIT_TIMEOUT_SECONDS, so those
# of the last two minutes of log time, and never more than this many (they go in every snapshot).
SEEN_FOR_S = 120.0
SEEN_MAX = 20_000


class Applier:
    def __init__(self, **router_options: Any) -> None:
        self.router_options = router_options
        self.router = Router(**router_options)
        self.now = 0.0
        self.seen: OrderedDict[str, Result] = OrderedDict()

    def apply(self, envelope: Envelope, position: str) -> Result:
        # Log time: the command's own time, never earlier than what was already applied.
        self.now = max(self.now, envelope.at)
        first = self.seen.get(envelope.cmd_id)
        if first is not None:
            return dataclasses.replace(first, position=position, at=self.now)
        result = dataclasses.replace(execute(self.router, envelope, self.now), position=position)
        self.seen[envelope.cmd_id] = dataclasses.replace(result, events=())
        while self.seen and (len(self.seen) > SEEN_MAX or next(iter(self.seen.values())).at < self.now - SEEN_FOR_S):
            self.seen.popitem(last=False)
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "router": self.router.to_dict(),
            "now": self.now,
            "seen": [[r.cmd_id, r.node, r.at, r.reply, list(r.error) if r.error else None] for r in self.seen.values()],
        }

    def load(self, data: dict[str, Any]) -> None:
        self.router = Router(**self.router_options)
        self.router.load(data.get("router", {}))
        self.now = float(data.get("now", 0.0))
        self.seen = OrderedDict()
        for cmd_id, node, at, reply, error in data.get("seen", []):
            self.seen[cmd_id] = Result(cmd_id, node, float(at), dict(reply), (error[0], error[1]) if error else None)
