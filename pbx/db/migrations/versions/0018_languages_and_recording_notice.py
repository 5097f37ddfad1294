"""languages and the recording notice: a business's language (tenants.language), a route's
own (inbound_routes.language), and whether the caller heard the recording notice
(calls.recording_notice: played, failed, none)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: tenants and calls are parent tables (never
    # batch-altered on SQLite).
    op.add_column("tenants", sa.Column("language", sa.String(length=8), nullable=True))
    op.add_column("inbound_routes", sa.Column("language", sa.String(length=8), nullable=True))
    op.add_column("calls", sa.Column("recording_notice", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("calls", "recording_notice")
    op.drop_column("inbound_routes", "language")
    op.drop_column("tenants", "language")
