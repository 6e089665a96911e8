"""ticket numbers need not be unique across history, only among open requests (the queue checks that)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# SQLite reflects the unnamed unique constraint of 0001; a naming convention lets batch mode name it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("cases", naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint("uq_cases_ticket_id", type_="unique")
            batch_op.create_index("ix_cases_ticket_id", ["ticket_id"], unique=False)
    else:
        op.drop_constraint("cases_ticket_id_key", "cases", type_="unique")
        op.create_index("ix_cases_ticket_id", "cases", ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", naming_convention=NAMING) as batch_op:
        batch_op.drop_index("ix_cases_ticket_id")
        batch_op.create_unique_constraint(
            "uq_cases_ticket_id" if op.get_bind().dialect.name == "sqlite" else "cases_ticket_id_key", ["ticket_id"]
        )
