"""account_entries: details (what the billing system said of an external payment or
adjustment: the same reference sent again must say the same)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: account_entries is a parent now (billing_events names its rows).
    op.add_column("account_entries", sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("account_entries", "details")
