"""Promises to pay and payment plans: promises, payment_plans, plan_instalments,
promise_settlements; tenants: the promise caps (latest date, least share of the overdue)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _one_of(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({_listed(values)})",
                              name=op.f(f"ck_{table}_{column}_known"))  # fmt: skip


def _fk(table: str, column: str, parent: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete=ondelete
    )


def upgrade() -> None:
    # tenants is referenced by every table: plain ADD COLUMN of nullable columns.
    op.add_column("tenants", sa.Column("promise_max_days", sa.Integer(), nullable=True))
    op.add_column("tenants", sa.Column("promise_min_share_pct", sa.Integer(), nullable=True))
    op.create_table(
        "promises",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("overdue_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("late_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("call_id", _ID, nullable=True),
        sa.Column("created_by_id", _ID, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("cancelled_by_id", _ID, nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        _one_of("promises", "method", ("card_on_file", "mandate", "pay_link", "bank_transfer")),
        _one_of("promises", "status", ("open", "kept", "broken", "cancelled")),
        _fk("promises", "account_id", "accounts", "CASCADE"),
        _fk("promises", "call_id", "calls", "SET NULL"),
        _fk("promises", "created_by_id", "users", "SET NULL"),
        _fk("promises", "cancelled_by_id", "users", "SET NULL"),
        _fk("promises", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
    )
    op.create_index(op.f("ix_promises_account_id"), "promises", ["account_id"])
    op.create_index(op.f("ix_promises_tenant_id"), "promises", ["tenant_id"])
    op.create_index("ix_promises_tenant_status_due", "promises", ["tenant_id", "status", "due_on"])
    op.create_index("uq_promises_open_account", "promises", ["account_id"], unique=True,
                    postgresql_where=sa.text("status = 'open'"),
                    sqlite_where=sa.text("status = 'open'"))  # fmt: skip
    op.create_table(
        "payment_plans",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("instalment_count", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("first_due_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("mandate_id", _ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("consent_by_id", _ID, nullable=True),
        sa.Column("consent_at", _TIME, nullable=False),
        sa.Column("consent_call_id", _ID, nullable=True),
        sa.Column("consent_recording_id", _ID, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("cancelled_by_id", _ID, nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        _one_of("payment_plans", "method", ("mandate", "card_on_file", "pay_link")),
        _one_of("payment_plans", "frequency", ("weekly", "fortnightly", "monthly")),
        _one_of("payment_plans", "status", ("active", "completed", "cancelled")),
        _fk("payment_plans", "account_id", "accounts", "CASCADE"),
        _fk("payment_plans", "mandate_id", "mandates", "SET NULL"),
        _fk("payment_plans", "consent_by_id", "users", "SET NULL"),
        _fk("payment_plans", "consent_call_id", "calls", "SET NULL"),
        _fk("payment_plans", "consent_recording_id", "recordings", "SET NULL"),
        _fk("payment_plans", "cancelled_by_id", "users", "SET NULL"),
        _fk("payment_plans", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plans")),
    )
    op.create_index(op.f("ix_payment_plans_account_id"), "payment_plans", ["account_id"])
    op.create_index(op.f("ix_payment_plans_tenant_id"), "payment_plans", ["tenant_id"])
    op.create_index("uq_payment_plans_active_account", "payment_plans", ["account_id"],
                    unique=True, postgresql_where=sa.text("status = 'active'"),
                    sqlite_where=sa.text("status = 'active'"))  # fmt: skip
    op.create_table(
        "plan_instalments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("plan_id", _ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        _one_of("plan_instalments", "status", ("pending", "kept", "broken", "cancelled")),
        _fk("plan_instalments", "plan_id", "payment_plans", "CASCADE"),
        _fk("plan_instalments", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_instalments")),
        sa.UniqueConstraint("plan_id", "number", name=op.f("uq_plan_instalments_plan_id_number")),
    )
    op.create_index(op.f("ix_plan_instalments_tenant_id"), "plan_instalments", ["tenant_id"])
    op.create_index("ix_plan_instalments_tenant_status_due", "plan_instalments",
                    ["tenant_id", "status", "due_on"])  # fmt: skip
    op.create_table(
        "promise_settlements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("promise_id", _ID, nullable=True),
        sa.Column("instalment_id", _ID, nullable=True),
        sa.Column("entry_id", _ID, nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", _TIME, nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("promise_settlements", "account_id", "accounts", "CASCADE"),
        _fk("promise_settlements", "promise_id", "promises", "CASCADE"),
        _fk("promise_settlements", "instalment_id", "plan_instalments", "CASCADE"),
        _fk("promise_settlements", "entry_id", "account_entries", "SET NULL"),
        _fk("promise_settlements", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promise_settlements")),
    )
    for column in ("account_id", "promise_id", "instalment_id", "tenant_id"):
        op.create_index(op.f(f"ix_promise_settlements_{column}"), "promise_settlements",
                        [column])  # fmt: skip


def downgrade() -> None:
    for table in ("promise_settlements", "plan_instalments", "payment_plans", "promises"):
        op.drop_table(table)
    # Plain DROP COLUMN (SQLite 3.35+): no copy of a table everything references.
    for column in ("promise_min_share_pct", "promise_max_days"):
        op.drop_column("tenants", column)
