"""documents shown in a case (attachments)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from recordings.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=48), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_attachments_case_id", "attachments", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attachments_case_id", table_name="attachments")
    op.drop_table("attachments")
