"""Edges of the case records.

A value the database refuses does not stop the case records (found by the event fuzzer: a NUL in a
clerk's notes made PostgreSQL refuse the batch, and the recorder retried it for ever, so no later
case was recorded); the schemas now refuse NUL, and the store sets any such change aside on its own.
Times at the edge of a second stay in their bucket on both databases."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from recordings.db import make_engine, make_sessionmaker
from recordings.migrate import upgrade
from recordings.store import CaseStore, RecordOp
from tests.conftest import PG_URL, reset_postgres


def create(case_id: str, at: float) -> RecordOp:
    fields = {
        "at": at,
        "actor": "citizen:c1",
        "case_id": case_id,
        "ticket_id": "T" + case_id[-4:],
        "matter_code": "SB-ZY-001",
        "skill": "social_insurance",
        "origin_region": "320500",
        "target_region": "310000",
        "channel": "kiosk",
        "kiosk_id": None,
        "citizen_id": "c1",
        "priority": "normal",
        "language": "zh",
    }
    return RecordOp("create", case_id, fields)


def ended(case_id: str, at: float, notes: str) -> RecordOp:
    fields = {
        "at": at,
        "event": "ended",
        "actor": "clerk:u1",
        "detail": {"outcome": "resolved"},
        "ended_at": at,
        "outcome": "resolved",
        "notes": notes,
    }
    return RecordOp("record", case_id, fields)


@pytest.mark.postgres
async def test_a_value_the_database_refuses_is_set_aside(caplog: pytest.LogCaptureFixture) -> None:
    await reset_postgres()
    engine = make_engine(PG_URL)
    try:
        await upgrade(engine)
        store = CaseStore(make_sessionmaker(engine))
        ops = [create("RVW20261128000000000001", 1.0), create("RVW20261128000000000002", 2.0)]
        ops += [ended("RVW20261128000000000001", 3.0, "bad\x00notes"), ended("RVW20261128000000000002", 4.0, "ok")]
        with caplog.at_level(logging.WARNING):
            assert await store.write_batch(ops) is True  # returns: nothing retried for ever
        good = await store.get("RVW20261128000000000002")
        assert good is not None and good["outcome"] == "resolved" and good["notes"] == "ok"
        bad = await store.get("RVW20261128000000000001")
        assert bad is not None and bad["outcome"] is None  # its refused line is the only thing missing
        set_aside = [r for r in caplog.records if "set aside" in r.getMessage()]
        assert len(set_aside) == 1 and "RVW20261128000000000001" in set_aside[0].getMessage()
        # The next batch is written as usual.
        assert await store.write_batch([ended("RVW20261128000000000001", 5.0, "fixed")]) is True
        again = await store.get("RVW20261128000000000001")
        assert again is not None and again["outcome"] == "resolved"
    finally:
        await engine.dispose()


# ---- times at the edge of a second (the figures' epoch arithmetic) -------------------------------


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_time_just_before_a_bucket_boundary_stays_in_its_bucket(db: str, tmp_path: Path) -> None:
    """SQLite's strftime('%s') of a whole stored time rounds to milliseconds: 15:59:59.9997 (China)
    came out a second late, in the next hour's bucket and a second longer wait (found by
    bench/sla.py comparing the two databases)."""
    from recordings.figures import FigureQuery, figures

    if db == "postgres":
        await reset_postgres()
        url = PG_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'edge.sqlite3'}"
    engine = make_engine(url)
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        store = CaseStore(sessions)
        hour = 1_795_881_600.0  # 2026-11-28 16:00:00 UTC, a China-time hour boundary
        requested = hour - 0.0003
        answered = {
            "at": requested + 59.9999,
            "event": "answered",
            "actor": "clerk:u1",
            "detail": None,
            "answered_at": requested + 59.9999,
            "clerk_id": "u1",
        }
        await store.write_batch(
            [create("RVW20261128000000000009", requested), RecordOp("record", "RVW20261128000000000009", answered)]
        )
        found = await figures(sessions, FigureQuery(hour - 3600, hour + 3600, 60.0, 10.0, bucket_s=3600))
        assert [b["bucket_start"] for b in found["buckets"]] == [hour - 3600]
        assert found["total"]["answered_within_sla"] == 1  # 59.9999 s: within the 60 s
    finally:
        await engine.dispose()
