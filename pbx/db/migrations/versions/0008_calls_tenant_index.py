"""calls: drop the index of tenant_id alone; ix_calls_tenant_arrived leads with it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain DROP/CREATE INDEX (no batch mode): SQLite needs no table copy for either.
def upgrade() -> None:
    op.drop_index("ix_calls_tenant_id", table_name="calls")


def downgrade() -> None:
    op.create_index("ix_calls_tenant_id", "calls", ["tenant_id"])
