"""What one server process holds, reachable from the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from queueing.backend import QueueService
from queueing.clock import Clock
from recordings.attachments import Attachments
from recordings.audit import AuditLog
from recordings.media_index import MediaIndex
from recordings.media_pool import RecorderPool
from recordings.store import CaseStore, Directory
from recordings.workdays import WorkCalendar

from .catalog import Catalog
from .config import Settings

if TYPE_CHECKING:
    from recordings.recorder import Recorder
    from signaling.gateway import Gateway
    from signaling.hub import Hub

    from .alerts import AlertWebhook
    from .limits import Limiter
    from .loginguard import LoginGuard
    from .metrics import Metrics


@dataclass
class Services:
    settings: Settings
    clock: Clock
    catalog: Catalog
    sio: socketio.AsyncServer
    engine: AsyncEngine
    store: CaseStore
    directory: Directory
    queue: QueueService
    hub: Hub
    gateway: Gateway
    recorder: Recorder | None
    limiter: Limiter
    login_guard: LoginGuard
    metrics: Metrics
    alert_webhook: AlertWebhook | None = None  # set when RVW_ALERT_WEBHOOK_URL is
    audit: AuditLog | None = None  # the audit log of people's actions (set by the app)
    attachments: Attachments | None = None  # documents shown in cases (set by the app)
    media: MediaIndex | None = None  # recorded media's rows and consent (set by the app)
    recorder_pool: RecorderPool | None = None  # this node's recorder processes (None with RVW_RECORDING=off)
    calendar: WorkCalendar | None = None  # working days, for 差评 follow-up deadlines (RVW_HOLIDAYS)


SERVICES: web.AppKey[Services] = web.AppKey("rvw_services", Services)
