"""Staffing math: Erlang C (M/M/N, no abandonment), as in ../shared/DOMAIN.md.

With offered load A = λ · AHT (Erlangs) and N clerks (A < N):

* P_wait = probability that an arriving citizen waits at all (Erlang C);
* SL(T) = 1 − P_wait · e^{−(N−A)·T/AHT}, the share answered within T seconds;
* ASA = P_wait · AHT / (N − A), the mean time to answer;
* occupancy = A / N.

P_wait is computed from the Erlang B recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)) and
C = N·B / (N − A·(1 − B)), which stays within [0, 1] at every step: no factorials or powers that
overflow for large N (the textbook formula overflows a float near N = 170).

Pure functions, no I/O; the simulator (`queueing.simulator`) is checked against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ErlangC:
    """The steady state of N clerks serving Poisson arrivals with exponential handle times."""

    arrivals_per_hour: float
    aht_s: float
    clerks: int
    sla_s: float
    offered_load: float  # A, in Erlangs
    p_wait: float
    service_level: float  # answered within sla_s
    asa_s: float
    occupancy: float

    def service_level_at(self, threshold_s: float) -> float:
        """The share answered within ``threshold_s`` seconds (the same queue, another threshold)."""
        return _service_level(self.p_wait, self.clerks, self.offered_load, self.aht_s, threshold_s)


def offered_load(arrivals_per_hour: float, aht_s: float) -> float:
    """A = λ · AHT in Erlangs, with λ in arrivals per second."""
    return arrivals_per_hour / 3600.0 * aht_s


def _check(arrivals_per_hour: float, aht_s: float, sla_s: float) -> None:
    if not math.isfinite(arrivals_per_hour) or arrivals_per_hour < 0:
        raise ValueError(f"arrivals_per_hour must be a non-negative number, got {arrivals_per_hour!r}")
    if not math.isfinite(aht_s) or aht_s <= 0:
        raise ValueError(f"aht_s must be positive, got {aht_s!r}")
    if not math.isfinite(sla_s) or sla_s < 0:
        raise ValueError(f"sla_s must be a non-negative number, got {sla_s!r}")


def _erlang_b_step(b: float, load: float, k: int) -> float:
    """B(k) from B(k−1)."""
    return load * b / (k + load * b)


def _p_wait(b: float, load: float, clerks: int) -> float:
    """Erlang C from Erlang B at the same N."""
    return clerks * b / (clerks - load * (1.0 - b))


def _service_level(p_wait: float, clerks: int, load: float, aht_s: float, threshold_s: float) -> float:
    return 1.0 - p_wait * math.exp(-(clerks - load) * threshold_s / aht_s)


def _result(arrivals_per_hour: float, aht_s: float, clerks: int, sla_s: float, load: float, b: float) -> ErlangC:
    p_wait = _p_wait(b, load, clerks)
    return ErlangC(
        arrivals_per_hour=arrivals_per_hour,
        aht_s=aht_s,
        clerks=clerks,
        sla_s=sla_s,
        offered_load=load,
        p_wait=p_wait,
        service_level=_service_level(p_wait, clerks, load, aht_s, sla_s),
        asa_s=p_wait * aht_s / (clerks - load),
        occupancy=load / clerks,
    )


def erlang_c(arrivals_per_hour: float, aht_s: float, clerks: int, sla_s: float = 60.0) -> ErlangC:
    """Erlang C for ``clerks`` clerks; raises ``ValueError`` unless the queue is stable (A < N).

    >>> r = erlang_c(200, 180, 14, 20)   # 100 contacts per 30 min
    >>> round(r.p_wait, 5), round(r.service_level, 5), round(r.asa_s, 2)
    (0.17413, 0.88835, 7.84)
    """
    _check(arrivals_per_hour, aht_s, sla_s)
    if isinstance(clerks, bool) or not isinstance(clerks, int) or clerks < 1:
        raise ValueError(f"clerks must be a positive integer, got {clerks!r}")
    load = offered_load(arrivals_per_hour, aht_s)
    if load >= clerks:
        raise ValueError(
            f"offered load {load:.3f} Erlangs needs more than {clerks} clerks: the queue would grow without bound"
        )
    b = 1.0
    for k in range(1, clerks + 1):
        b = _erlang_b_step(b, load, k)
    return _result(arrivals_per_hour, aht_s, clerks, sla_s, load, b)


def clerks_needed(arrivals_per_hour: float, aht_s: float, sla_s: float, goal: float) -> ErlangC:
    """The smallest staffing (N > A) whose service level within ``sla_s`` is at least ``goal``.

    Returns the :class:`ErlangC` figures at that N (``.clerks`` is the answer). ``goal`` is a share in
    (0, 1); 1 itself is never reached while anyone arrives, since some citizens always wait.
    Linear in N: the Erlang B recursion is carried forward rather than restarted for each N.
    """
    _check(arrivals_per_hour, aht_s, sla_s)
    if not math.isfinite(goal) or not 0.0 < goal < 1.0:
        raise ValueError(f"goal must be a share between 0 and 1 (exclusive), got {goal!r}")
    load = offered_load(arrivals_per_hour, aht_s)
    b = 1.0
    clerks = 0
    while True:
        clerks += 1
        b = _erlang_b_step(b, load, clerks)
        if clerks <= load:
            continue
        result = _result(arrivals_per_hour, aht_s, clerks, sla_s, load, b)
        if result.service_level >= goal:
            return result
