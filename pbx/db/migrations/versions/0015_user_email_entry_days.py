"""users: email (admins are told where a webhook receiver was disabled); account_entries: an
index by business and time (reconciliation reads one business's day)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN of a nullable column: SQLite needs no copy of users (a parent).
    op.add_column("users", sa.Column("email", sa.String(length=254), nullable=True))
    op.create_index(
        "ix_account_entries_tenant_created", "account_entries", ["tenant_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_account_entries_tenant_created", table_name="account_entries")
    op.drop_column("users", "email")
