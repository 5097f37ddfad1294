"""tenants: credit limits add up over a period (day, week, month), a total per account, and
whether a credit may take a balance below zero; credits: an index for an agent's total

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # tenants is referenced by every table: plain ADD COLUMN, never a table copy on SQLite.
    op.add_column("tenants", sa.Column("credit_period", sa.String(length=8),
                                       server_default="day", nullable=False))  # fmt: skip
    op.add_column("tenants", sa.Column("credit_account_limit_minor", sa.BigInteger(),
                                       nullable=True))  # fmt: skip
    op.add_column("tenants", sa.Column("credits_below_zero", sa.Boolean(),
                                       server_default=sa.false(), nullable=False))  # fmt: skip
    op.create_index("ix_credits_granted_by_created", "credits", ["granted_by_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_credits_granted_by_created", table_name="credits")
    # Plain DROP COLUMN (SQLite 3.35+), as 0006 does: no copy of a table everything references.
    for column in ("credits_below_zero", "credit_account_limit_minor", "credit_period"):
        op.drop_column("tenants", column)
