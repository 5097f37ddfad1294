"""tenants: disabled; platform_tokens (the platform operator's API tokens); user_tokens (one-time
invitation and password-reset links)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    # A plain ADD COLUMN with a default: SQLite needs no table copy.
    op.add_column("tenants", sa.Column("disabled", sa.Boolean(), nullable=False,
                                       server_default=sa.text("false")))  # fmt: skip
    op.create_table(
        "platform_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("last_used_at", _TIME, nullable=True),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_platform_tokens_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_platform_tokens_token_sha256")),
    )
    op.create_table(
        "user_tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("used_at", _TIME, nullable=True),
        sa.CheckConstraint(
            "purpose IN ('invite', 'reset')", name=op.f("ck_user_tokens_purpose_known")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_user_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_user_tokens")),
    )
    op.create_index(op.f("ix_user_tokens_user_id"), "user_tokens", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_user_tokens_user_id"), table_name="user_tokens")
    op.drop_table("user_tokens")
    op.drop_table("platform_tokens")
    # Not batch mode: on SQLite it copies tenants (its CHECKs turned into table constraints
    # that break 0004's downgrade, and dropping the old copy cascades into every child row).
    op.drop_column("tenants", "disabled")
