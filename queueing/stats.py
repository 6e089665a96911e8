"""Service-level figures from case records, as defined in docs/sla.md.

Response time = answered_at - requested_at, met when at most the SLA
threshold. Abandoned = cancelled or gone before an answer; an abandon shorter
than ``short_abandon_s`` is left out. Service level = answered within the
threshold / (answered + abandoned that are not short).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaseTimes:
    requested_at: float
    answered_at: float | None
    ended_at: float | None
    outcome: str | None
    rating: int | None = None


def service_level(
    cases: list[CaseTimes], *, sla_s: float = 60.0, short_abandon_s: float = 10.0, now: float | None = None
) -> dict[str, float | int | None]:
    answered = [c for c in cases if c.answered_at is not None]
    abandoned = [
        c for c in cases if c.answered_at is None and c.outcome in ("cancelled", "abandoned") and c.ended_at is not None
    ]
    long_abandoned = [c for c in abandoned if (c.ended_at or 0) - c.requested_at >= short_abandon_s]
    met = [c for c in answered if (c.answered_at or 0) - c.requested_at <= sla_s]
    denominator = len(answered) + len(long_abandoned)
    waits = [(c.answered_at or 0) - c.requested_at for c in answered]
    handled = [c for c in answered if c.outcome in ("resolved", "referred", "unresolved")]
    resolved = [c for c in handled if c.outcome == "resolved"]
    rated = [c for c in cases if c.rating is not None]
    positive = [c for c in rated if (c.rating or 0) >= 4]
    return {
        "requests": len(cases),
        "answered": len(answered),
        "answered_within_sla": len(met),
        "abandoned": len(abandoned),
        "short_abandoned": len(abandoned) - len(long_abandoned),
        "service_level": (len(met) / denominator) if denominator else None,
        "asa_s": (sum(waits) / len(waits)) if waits else None,
        "resolution_rate": (len(resolved) / len(handled)) if handled else None,
        "rated": len(rated),
        "positive_rate": (len(positive) / len(rated)) if rated else None,
        "sla_s": sla_s,
    }
