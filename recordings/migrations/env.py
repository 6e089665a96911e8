"""Alembic environment: run on the connection that :func:`recordings.migrate.upgrade` hands over."""

from __future__ import annotations

from alembic import context

from recordings import models  # noqa: F401 - registers the tables
from recordings.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `rvw db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
