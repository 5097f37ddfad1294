"""The collections worklist: worklist_settings (a business's calling window, attempts cap,
no-contact days, claim length), worklist_entries (one row an account: reasons, score parts,
claim), worklist_attempts (each collection call placed, linked to its call log row),
do_not_call_numbers (a business's list); customers: a do-not-call flag

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)
# As pbx.db.models has them at this revision.
STATUSES = ("queued", "claimed", "called", "done")


def _fk(table: str, column: str, parent: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete=ondelete
    )


def upgrade() -> None:
    # customers is referenced by many tables: plain ADD COLUMN, nullable.
    op.add_column("customers", sa.Column("do_not_call_at", _TIME, nullable=True))
    op.create_table(
        "worklist_settings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("call_from", sa.String(length=5), nullable=False),
        sa.Column("call_until", sa.String(length=5), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("no_contact_days", sa.Integer(), nullable=False),
        sa.Column("claim_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("worklist_settings", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worklist_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_worklist_settings_tenant_id")),
    )
    listed = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_table(
        "worklist_entries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("overdue_minor", sa.BigInteger(), nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("days_since_contact", sa.Integer(), nullable=True),
        sa.Column("broken_promises", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("due_at", _TIME, nullable=True),
        sa.Column("claimed_by_id", _ID, nullable=True),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("built_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint(
            f"status IN ({listed})", name=op.f("ck_worklist_entries_status_known")
        ),
        _fk("worklist_entries", "account_id", "accounts", "CASCADE"),
        _fk("worklist_entries", "customer_id", "customers", "CASCADE"),
        _fk("worklist_entries", "claimed_by_id", "users", "SET NULL"),
        _fk("worklist_entries", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worklist_entries")),
        sa.UniqueConstraint("account_id", name=op.f("uq_worklist_entries_account_id")),
    )
    op.create_index(op.f("ix_worklist_entries_tenant_id"), "worklist_entries", ["tenant_id"])
    op.create_index(op.f("ix_worklist_entries_customer_id"), "worklist_entries",
                    ["customer_id"])  # fmt: skip
    op.create_index("ix_worklist_entries_tenant_status_score", "worklist_entries",
                    ["tenant_id", "status", "score"])  # fmt: skip
    op.create_table(
        "worklist_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=True),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("call_record_id", _ID, nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("worklist_attempts", "entry_id", "worklist_entries", "CASCADE"),
        _fk("worklist_attempts", "account_id", "accounts", "CASCADE"),
        _fk("worklist_attempts", "agent_id", "users", "SET NULL"),
        _fk("worklist_attempts", "call_record_id", "calls", "SET NULL"),
        _fk("worklist_attempts", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worklist_attempts")),
    )
    op.create_index(op.f("ix_worklist_attempts_tenant_id"), "worklist_attempts", ["tenant_id"])
    op.create_index("ix_worklist_attempts_account_at", "worklist_attempts", ["account_id", "at"])
    op.create_index("ix_worklist_attempts_call", "worklist_attempts", ["call_record_id"])
    op.create_table(
        "do_not_call_numbers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("e164", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("added_by_id", _ID, nullable=True),
        sa.Column("added_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("do_not_call_numbers", "added_by_id", "users", "SET NULL"),
        _fk("do_not_call_numbers", "tenant_id", "tenants", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_call_numbers")),
        sa.UniqueConstraint(
            "tenant_id", "e164", name=op.f("uq_do_not_call_numbers_tenant_id_e164")
        ),
    )


def downgrade() -> None:
    op.drop_table("do_not_call_numbers")
    op.drop_table("worklist_attempts")
    op.drop_table("worklist_entries")
    op.drop_table("worklist_settings")
    # Plain DROP COLUMN (SQLite 3.35+): no copy of a table everything references.
    op.drop_column("customers", "do_not_call_at")
