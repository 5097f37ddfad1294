"""recurring collection: runs, attempts (written before the provider is called), and an index
to find a due invoice's mandates by account

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime()


def upgrade() -> None:
    op.create_table(
        "collection_runs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("run_on", sa.Date(), nullable=True),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_runs")),
    )
    op.create_table(
        "collection_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("mandate_id", _ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column("next_retry_on", sa.Date(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint("attempt > 0", name=op.f("ck_collection_attempts_attempt_positive")),
        sa.CheckConstraint(
            "status IN ('pending', 'submitted', 'succeeded', 'failed')",
            name=op.f("ck_collection_attempts_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["collection_runs.id"],
            name=op.f("fk_collection_attempts_run_id_collection_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_collection_attempts_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mandate_id"],
            ["mandates.id"],
            name=op.f("fk_collection_attempts_mandate_id_mandates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_collection_attempts_payment_id_payments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_collection_attempts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_attempts")),
        sa.UniqueConstraint(
            "invoice_id", "attempt", name=op.f("uq_collection_attempts_invoice_id_attempt")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "idempotency_key",
            name=op.f("uq_collection_attempts_tenant_id_idempotency_key"),
        ),
    )
    op.create_index(op.f("ix_collection_attempts_tenant_id"), "collection_attempts", ["tenant_id"])
    if op.get_bind().dialect.name == "postgresql":
        # An attempt is written once as an intent and once with the provider's answer (no
        # indexed column changes): room on each page keeps that second write a HOT update.
        op.execute("ALTER TABLE collection_attempts SET (fillfactor = 70)")
    # A plain CREATE INDEX: no table copy on SQLite, and mandates is referenced by others.
    op.create_index("ix_mandates_account_id_status", "mandates", ["account_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_mandates_account_id_status", table_name="mandates")
    op.drop_table("collection_attempts")
    op.drop_table("collection_runs")
