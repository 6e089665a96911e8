"""Prometheus metrics at ``GET /metrics`` (prometheus_client, one registry per app).

Two kinds of figures:

* **Queue figures**, the same on every node: counters fed by the queue's results,
  which every node hears in log order (requests, answers within and over the
  threshold, abandons, expiries, offer time-outs), and gauges read at scrape time
  from the shared queue state (waiting and oldest wait per queue, clerks by status).
* **Process figures**, this node's own: Socket.IO events received and errors
  answered by code, and how late the event loop runs a timer.

When ``RVW_METRICS_TOKEN`` is set, a scrape must send it as a bearer token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from queueing.backend import QueueService
from queueing.commands import Result
from queueing.events import Answered, OfferEnded, TicketClosed, TicketOpened

from .config import Settings
from .services import SERVICES

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# No "_created" series beside each counter: they double the exposition and say nothing a scrape needs.
disable_created_metrics()

LAG_INTERVAL_S = 0.5


class QueueGauges(Collector):
    """Gauges from the last queue summary (taken just before each scrape)."""

    def __init__(self) -> None:
        self.summary: dict[str, Any] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily("rvw_queue_waiting", "Citizens waiting, per queue", labels=["region", "skill"])
        oldest = GaugeMetricFamily(
            "rvw_queue_oldest_wait_seconds",
            "How long the longest-waiting citizen has waited, per queue",
            labels=["region", "skill"],
        )
        staffed = GaugeMetricFamily(
            "rvw_queue_staffed_clerks", "Clerks on shift who serve the queue", labels=["region", "skill"]
        )
        for q in self.summary.get("queues", []):
            labels = [str(q["region"]), str(q["skill"])]
            waiting.add_metric(labels, float(q["waiting"]))
            oldest.add_metric(labels, float(q["oldest_wait_s"]))
            staffed.add_metric(labels, float(q.get("staffed", 0)))
        clerks = GaugeMetricFamily("rvw_clerks", "Clerks known to the queue, by status", labels=["status"])
        for status, n in sorted(self.summary.get("clerks_by_status", {}).items()):
            clerks.add_metric([str(status)], float(n))
        cases = GaugeMetricFamily("rvw_open_cases", "Cases answered and not yet ended")
        cases.add_metric([], float(self.summary.get("open_cases", 0)))
        yield from (waiting, oldest, staffed, clerks, cases)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class Metrics:
    def __init__(self, settings: Settings, queue: QueueService) -> None:
        self.settings = settings
        self.queue = queue
        r = self.registry = CollectorRegistry(auto_describe=True)
        queue_labels = ["region", "skill"]
        self.requests = Counter("rvw_requests", "Requests for help that entered a queue", queue_labels, registry=r)
        self.answers = Counter(
            "rvw_answers",
            "Requests a clerk answered, within the service-level threshold or over it",
            [*queue_labels, "within_threshold"],
            registry=r,
        )
        self.abandons = Counter(
            "rvw_abandons",
            "Requests the citizen cancelled or left before an answer; short: within the short-abandon time",
            [*queue_labels, "short"],
            registry=r,
        )
        self.expiries = Counter("rvw_expiries", "Requests that waited past the maximum wait", queue_labels, registry=r)
        self.offer_timeouts = Counter("rvw_offer_timeouts", "Offers a clerk let run out", registry=r)
        self.events = Counter(
            "rvw_signaling_events", "Socket.IO events this node received", ["namespace", "event"], registry=r
        )
        self.errors = Counter(
            "rvw_signaling_errors",
            "Socket.IO events this node answered with an error",
            ["namespace", "code"],
            registry=r,
        )
        self.loop_lag = Gauge(
            "rvw_event_loop_lag_seconds", "How late this node's event loop ran its last timer", registry=r
        )
        self.gauges = QueueGauges()
        r.register(self.gauges)
        ProcessCollector(registry=r)  # this process's CPU, memory and open files
        self._task: asyncio.Task[None] | None = None

    # ---- queue results (a queue sink) ---------------------------------------------------------

    def accept(self, result: Result) -> None:
        for ev in result.events:
            if isinstance(ev, TicketOpened):
                self.requests.labels(ev.ticket.region, ev.ticket.skill).inc()
            elif isinstance(ev, Answered):
                t = ev.ticket
                within = ev.at - t.requested_at <= self.settings.sla_seconds
                self.answers.labels(t.region, t.skill, "true" if within else "false").inc()
            elif isinstance(ev, TicketClosed):
                t = ev.ticket
                if ev.reason == "expired":
                    self.expiries.labels(t.region, t.skill).inc()
                else:  # cancelled or abandoned: both are abandons (docs/sla.md)
                    short = ev.ended_at - t.requested_at < self.settings.short_abandon_s
                    self.abandons.labels(t.region, t.skill, "true" if short else "false").inc()
            elif isinstance(ev, OfferEnded) and ev.reason == "expired":
                self.offer_timeouts.inc()

    # ---- signaling --------------------------------------------------------------------------------

    def event(self, namespace: str, event: str, ack: dict[str, Any]) -> None:
        self.events.labels(namespace, event).inc()
        if not ack.get("ok"):
            code = ack.get("error", {}).get("code", "unknown")
            self.errors.labels(namespace, str(code)).inc()

    # ---- the event loop's lag ---------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch_loop(), name="rvw-loop-lag")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_INTERVAL_S)
            self.loop_lag.set(max(0.0, loop.time() - before - LAG_INTERVAL_S))

    async def exposition(self) -> bytes:
        self.gauges.summary = await self.queue.summary(self.queue.clock.now())
        return bytes(generate_latest(self.registry))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    token = svc.settings.metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return web.Response(status=401, text="send the metrics token as a bearer token\n")
    body = await svc.metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
