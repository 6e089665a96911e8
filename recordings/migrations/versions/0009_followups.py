"""差评 follow-ups

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recordings.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("complexity", sa.String(length=8), nullable=False),
        sa.Column("contacted_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("appealed_at", UTCDateTime(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
    )
    op.create_index("ix_followups_opened_at", "followups", ["opened_at"], unique=False)
    # 差评 rated before: their follow-ups, closed when a supervisor had closed them.
    op.execute(
        "INSERT INTO followups (case_id, opened_at, complexity, resolved_at, history) "
        "SELECT case_id, rated_at, 'simple', followup_closed_at, '[]' FROM cases "
        "WHERE rating_level <= 2 AND rated_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_followups_opened_at", table_name="followups")
    op.drop_table("followups")
