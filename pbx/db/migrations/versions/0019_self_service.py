"""self-service in the IVR: a route's self-service menu, what the caller did there on the call
log, and wrong PINs or dates of birth keyed per account (limited across calls)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: calls is a parent table (never batch-altered).
    op.add_column("inbound_routes", sa.Column("self_service", sa.JSON(), nullable=True))
    op.add_column("calls", sa.Column("self_service", sa.JSON(), nullable=True))
    op.add_column("calls", sa.Column("self_service_resolved", sa.Boolean(), nullable=True))
    op.create_table(
        "ivr_identity_failures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("call_id", _ID, nullable=True),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_ivr_identity_failures_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_ivr_identity_failures_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_ivr_identity_failures_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_identity_failures")),
    )
    op.create_index(
        "ix_ivr_identity_failures_account_at", "ivr_identity_failures", ["account_id", "at"]
    )
    op.create_index(
        op.f("ix_ivr_identity_failures_tenant_id"), "ivr_identity_failures", ["tenant_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ivr_identity_failures_tenant_id"), table_name="ivr_identity_failures")
    op.drop_index("ix_ivr_identity_failures_account_at", table_name="ivr_identity_failures")
    op.drop_table("ivr_identity_failures")
    op.drop_column("calls", "self_service_resolved")
    op.drop_column("calls", "self_service")
    op.drop_column("inbound_routes", "self_service")
