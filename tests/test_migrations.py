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
            assert version == "0005"
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
