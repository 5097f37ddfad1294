"""payments: the statuses a provider can move a payment to after it succeeded (cancelled,
partially refunded, refunded, charged back) and what was refunded; account_entries, every
change of a balance with its cause (a payment or a credit); payment_reviews, provider
events held for a supervisor

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime()
_OLD = ("pending", "succeeded", "failed", "refunded")
_NEW = (
    "pending", "succeeded", "failed", "cancelled", "partially_refunded", "refunded",
    "charged_back",
)  # fmt: skip
_KINDS = ("payment", "payment_reversed", "refund", "chargeback", "chargeback_reversed", "credit")


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _payment_statuses(before: Sequence[str], after: Sequence[str], width: int) -> None:
    """Widen or narrow `payments.status` (its CHECK and its length).

    PostgreSQL alters the constraint and the column. On SQLite, batch mode would copy the
    table, and dropping the old one (foreign keys on) would run ON DELETE SET NULL on every
    outbox message and collection attempt that names a payment. The CHECK and the declared
    type are not stored with the rows, so the table's definition is edited in place as
    SQLite documents for such changes (writable_schema, then a new schema_version).
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_payments_status_known"), "payments", type_="check")
        op.alter_column("payments", "status", type_=sa.String(length=width),
                        existing_nullable=False)  # fmt: skip
        op.create_check_constraint(
            op.f("ck_payments_status_known"), "payments", f"status IN ({_listed(after)})"
        )
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'payments'"
    ).scalar_one()
    edited = sql.replace(f"status IN ({_listed(before)})", f"status IN ({_listed(after)})")
    edited = edited.replace(
        "status VARCHAR(16) NOT NULL" if width == 24 else "status VARCHAR(24) NOT NULL",
        f"status VARCHAR({width}) NOT NULL",
    )
    if edited.count(f"status IN ({_listed(after)})") != 1:
        raise RuntimeError("payments: the status CHECK is not the one this migration knows")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'payments'",
        (edited,),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _payment_statuses(_OLD, _NEW, 24)
    # Nothing references webhook_events: batch mode (a copy on SQLite) is safe.
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.alter_column("status", type_=sa.String(length=24),
                              existing_type=sa.String(length=16))  # fmt: skip
    # Plain ADD COLUMN on both databases: no copy of a table others reference.
    op.add_column("payments", sa.Column("refunded_minor", sa.BigInteger(),
                                        server_default="0", nullable=False))  # fmt: skip
    op.create_table(
        "account_entries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("credit_id", _ID, nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint(f"kind IN ({_listed(_KINDS)})",
                           name=op.f("ck_account_entries_kind_known")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_account_entries_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"],
                                name=op.f("fk_account_entries_payment_id_payments"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["credit_id"], ["credits.id"],
                                name=op.f("fk_account_entries_credit_id_credits"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_account_entries_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_entries")),
    )  # fmt: skip
    op.create_index("ix_account_entries_account_id", "account_entries", ["account_id", "id"])
    op.create_index("ix_account_entries_payment_id", "account_entries", ["payment_id"])
    op.create_index("ix_account_entries_credit_id", "account_entries", ["credit_id"])
    op.create_index("ix_account_entries_tenant_id", "account_entries", ["tenant_id"])
    op.create_table(
        "payment_reviews",
        sa.Column("id", _ID, nullable=False),
        sa.Column("payment_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=False),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("decided_by", _ID, nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint("decision IN ('applied', 'dismissed')",
                           name=op.f("ck_payment_reviews_decision_known")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"],
                                name=op.f("fk_payment_reviews_payment_id_payments"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"],
                                name=op.f("fk_payment_reviews_decided_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_payment_reviews_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_reviews")),
    )  # fmt: skip
    op.create_index("ix_payment_reviews_payment_id", "payment_reviews", ["payment_id"])
    op.create_index("ix_payment_reviews_tenant_id", "payment_reviews", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("payment_reviews")
    op.drop_table("account_entries")
    op.drop_column("payments", "refunded_minor")
    # The statuses 0009 did not know, as near as it can say them.
    payments = sa.table("payments", sa.column("status", sa.String))
    for new, old in (("cancelled", "failed"), ("partially_refunded", "succeeded"),
                     ("charged_back", "refunded")):  # fmt: skip
        op.execute(payments.update().where(payments.c.status == new).values(status=old))
    events = sa.table("webhook_events", sa.column("status", sa.String))
    op.execute(events.update().where(sa.func.length(events.c.status) > 16).values(status=None))
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.alter_column("status", type_=sa.String(length=16),
                              existing_type=sa.String(length=24))  # fmt: skip
    _payment_statuses(_NEW, _OLD, 16)
