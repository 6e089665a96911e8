"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL, and go back down."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from recordings import models  # noqa: F401 - registers the tables
from recordings.db import Base, make_engine
from recordings.migrate import alembic_config, upgrade
from tests.conftest import PG_URL, reset_postgres


async def check(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second run is a no-op
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
            assert diff == []
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            assert version == "0010"
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            assert set(tables) <= {"alembic_version"}
    finally:
        await engine.dispose()


async def test_sqlite(tmp_path: Path) -> None:
    await check(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")


@pytest.mark.postgres
async def test_postgres() -> None:
    await reset_postgres()
    await check(PG_URL)


async def backfill(url: str) -> None:
    """Cases recorded before 0006 get their offer, answer and transfer counts from their timelines."""
    engine = make_engine(url)
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO cases (case_id, ticket_id, matter_code, skill, origin_region, target_region, "
                    "channel, citizen_id, priority, language, requested_at) VALUES "
                    "('C1', 'T1', 'SB-ZY-001', 'social_insurance', '310104', '310000', 'web', 'c1', 'normal', "
                    "'zh', '2026-09-22 01:00:00'), ('C2', 'T2', 'SB-ZY-001', 'social_insurance', '310104', "
                    "'310000', 'web', 'c2', 'normal', 'zh', '2026-09-22 01:00:00')"
                )
            )
            for event in ("offered", "offer_expired", "offered", "answered", "transferred", "offered", "answered"):
                # (every line at 01:00:01; the wrap-up below at 01:05)
                await conn.execute(
                    text(
                        "INSERT INTO case_events (case_id, at, event, actor) "
                        "VALUES ('C1', '2026-09-22 01:00:01', :e, 'system')"
                    ),
                    {"e": event},
                )
            await conn.execute(
                text(
                    "INSERT INTO case_events (case_id, at, event, actor) "
                    "VALUES ('C1', '2026-09-22 01:05:00', 'wrapped_up', 'clerk:k')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT case_id, offers, answers, transfers FROM cases ORDER BY case_id"))
            ).all()
            wrapped = (await conn.execute(text("SELECT wrapped_at FROM cases ORDER BY case_id"))).scalars().all()
        assert [tuple(r) for r in rows] == [("C1", 3, 2, 1), ("C2", 0, 0, 0)]
        assert [str(w)[:19] if w is not None else None for w in wrapped] == ["2026-09-22 01:05:00", None]
    finally:
        await engine.dispose()


async def test_sqlite_backfill(tmp_path: Path) -> None:
    await backfill(f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}")


@pytest.mark.postgres
async def test_postgres_backfill() -> None:
    await reset_postgres()
    await backfill(PG_URL)
