"""payments flow: verification before money, credit limits and approvals, event-ordered
statuses, received webhook events, the outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime()


def upgrade() -> None:
    # tenants is referenced by every table: plain ADD COLUMN, never a table copy on SQLite.
    op.add_column("tenants", sa.Column("money_needs_verification", sa.Boolean(),
                                       server_default=sa.false(), nullable=False))  # fmt: skip
    op.add_column("tenants", sa.Column("credit_limits", sa.JSON(), server_default="{}",
                                       nullable=False))  # fmt: skip
    # Nothing references credits, payments or mandates yet: batch mode is safe on SQLite.
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", _TIME, nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_credits_call_id_calls"), "calls",
                                    ["call_id"], ["id"], ondelete="SET NULL")  # fmt: skip
    for table in ("payments", "mandates"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("status_at", _TIME, nullable=True))
    op.create_table(
        "webhook_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_webhook_events_provider_event_id")
        ),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("call_id", _ID, nullable=True),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("mandate_id", _ID, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint("channel IN ('sms', 'email')", name=op.f("ck_outbox_messages_channel")),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed')", name=op.f("ck_outbox_messages_status")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_outbox_messages_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_outbox_messages_payment_id_payments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mandate_id"],
            ["mandates.id"],
            name=op.f("fk_outbox_messages_mandate_id_mandates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_outbox_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_messages_tenant_id"), ["tenant_id"])


def downgrade() -> None:
    op.drop_table("outbox_messages")
    op.drop_table("webhook_events")
    for table in ("mandates", "payments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("status_at")
    with op.batch_alter_table("credits", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_credits_call_id_calls"), type_="foreignkey")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("note")
        batch_op.drop_column("call_id")
    op.drop_column("tenants", "credit_limits")
    op.drop_column("tenants", "money_needs_verification")
