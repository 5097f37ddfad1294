"""Platform tokens keep who revoked them (the token list is the record of who made and who
stopped each: created_by and created_at were kept, the revoker only in the log)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("platform_tokens", sa.Column("revoked_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("platform_tokens") as batch:
        batch.drop_column("revoked_by")
