"""acd_snapshots: the fencing token of the ARI lease that wrote the state; recordings: the
Asterisk node that made each one

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD COLUMN (a default or NULL): SQLite needs no table copy for either.
def upgrade() -> None:
    op.add_column("acd_snapshots", sa.Column("lease_token", sa.BigInteger(),
                                             server_default="0", nullable=False))  # fmt: skip
    op.add_column("recordings", sa.Column("node", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("node")
    with op.batch_alter_table("acd_snapshots") as batch:
        batch.drop_column("lease_token")
