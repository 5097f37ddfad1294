"""webhook_deliveries: an index of the pending ones by subscription, account and id (the
claim's "is an earlier delivery of this account still pending?" without walking every
delivered row)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 21:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_pending_order", "webhook_deliveries",
        ["subscription_id", "account_id", "id"],
        postgresql_where=_PENDING, sqlite_where=_PENDING,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending_order", table_name="webhook_deliveries")
