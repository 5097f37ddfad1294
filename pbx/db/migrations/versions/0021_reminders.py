"""Reminders (dunning): reminder_settings (a business's schedule by days overdue, its
templates, quiet hours and holidays), reminders (one row per account, step and overdue
episode: planned, then sent, listed for the worklist or stopped); customers: opted out of
reminders; accounts: a collections hold (a dispute)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)
CHANNELS = ("email", "sms", "worklist")
STATUSES = ("planned", "sent", "listed", "stopped")


def _one_of(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{column}_known"))


def _fk(table: str, column: str, parent: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete=ondelete
    )


def upgrade() -> None:
    # customers and accounts are referenced by many tables: plain ADD COLUMN, nullable.
    op.add_column("customers", sa.Column("reminders_opted_out_at", _TIME, nullable=True))
    op.add_column("accounts", sa.Column("collections_hold", sa.String(length=200), nullable=True))
    op.add_column("accounts", sa.Column("collections_hold_at", _TIME, nullable=True))
    op.create_table(
        "reminder_settings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("templates", sa.JSON(), nullable=False),
        sa.Column("quiet_from", sa.String(length=5), nullable=False),
        sa.Column("quiet_until", sa.String(length=5), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("reminder_settings", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_reminder_settings_tenant_id")),
    )
    op.create_table(
        "reminders",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("step_day", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("overdue_since", sa.Date(), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        _one_of("reminders", "channel", CHANNELS),
        _one_of("reminders", "status", STATUSES),
        _fk("reminders", "account_id", "accounts", "CASCADE"),
        _fk("reminders", "customer_id", "customers", "CASCADE"),
        _fk("reminders", "message_id", "outbox_messages", "SET NULL"),
        _fk("reminders", "payment_id", "payments", "SET NULL"),
        _fk("reminders", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("account_id", "step_day", "overdue_since",
                            name=op.f("uq_reminders_account_id_step_day_overdue_since")),
    )
    op.create_index(op.f("ix_reminders_tenant_id"), "reminders", ["tenant_id"])
    op.create_index(op.f("ix_reminders_customer_id"), "reminders", ["customer_id"])
    op.create_index("ix_reminders_tenant_status_channel", "reminders",
                    ["tenant_id", "status", "channel"])  # fmt: skip
    # The planner reads each business's overdue accounts from its open invoices by date.
    op.create_index("ix_invoices_tenant_open_due", "invoices",
                    ["tenant_id", "status", "due_on", "account_id"])  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_invoices_tenant_open_due", table_name="invoices")
    op.drop_table("reminders")
    op.drop_table("reminder_settings")
    # Plain DROP COLUMN (SQLite 3.35+): no copy of a table everything references.
    op.drop_column("accounts", "collections_hold_at")
    op.drop_column("accounts", "collections_hold")
    op.drop_column("customers", "reminders_opted_out_at")
