"""where the recorder has read the queue's events stream up to

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_positions",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("position", sa.String(length=64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("queue_positions")
