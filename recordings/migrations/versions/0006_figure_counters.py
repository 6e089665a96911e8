"""counters of offers, answers and transfers per case, the wrap-up's time, the 差评 follow-up's close, and
clerks' status history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recordings.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTED = (("offers", "offered"), ("answers", "answered"), ("transfers", "transferred"))


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for column, _ in COUNTED:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("followup_closed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("wrapped_at", UTCDateTime(), nullable=True))
    # Cases recorded before: their counts and wrap-up time from their timelines.
    op.execute(
        "UPDATE cases SET wrapped_at = (SELECT MAX(e.at) FROM case_events e "
        "WHERE e.case_id = cases.case_id AND e.event = 'wrapped_up')"
    )
    for column, event in COUNTED:
        op.execute(
            f"UPDATE cases SET {column} = (SELECT COUNT(*) FROM case_events e "
            f"WHERE e.case_id = cases.case_id AND e.event = '{event}')"
        )
    op.create_table(
        "clerk_status",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("clerk_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_clerk_status_clerk_started", "clerk_status", ["clerk_id", "started_at"], unique=False)
    op.create_index("ix_clerk_status_started_at", "clerk_status", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_clerk_status_started_at", table_name="clerk_status")
    op.drop_index("ix_clerk_status_clerk_started", table_name="clerk_status")
    op.drop_table("clerk_status")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("wrapped_at")
        batch.drop_column("followup_closed_at")
        for column, _ in reversed(COUNTED):
            batch.drop_column(column)
