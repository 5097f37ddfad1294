"""Agents' state history: agent_state_spans (each stretch of time an agent spent in one ACD
state, a pause with its reason, a caller on hold) and report_agent_state_intervals (its
seconds per quarter hour, agent, state and reason), for the agents report; a call's overflow
(calls.overflow, calls.overflow_from_queue_id) and the queue intervals' overflows by target

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)
# As pbx.db.models has them at this revision (a migration never follows later changes).
STATES = ("available", "ringing", "on_call", "wrap_up", "paused", "on_hold")
OVERFLOWS = ("overflowed_queue", "overflowed_voicemail", "overflowed_callback")


def upgrade() -> None:
    listed = ", ".join(f"'{state}'" for state in STATES)
    op.create_table(
        "agent_state_spans",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("call_id", _ID, nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.CheckConstraint(f"state IN ({listed})", name=op.f("ck_agent_state_spans_state_known")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_agent_state_spans_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"],
                                name=op.f("fk_agent_state_spans_agent_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"],
                                name=op.f("fk_agent_state_spans_call_id_calls"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_spans")),
    )  # fmt: skip
    op.create_index("ix_agent_state_spans_open", "agent_state_spans",
                    ["tenant_id", "agent_id", "ended_at"])  # fmt: skip
    op.create_index("ix_agent_state_spans_tenant_ended", "agent_state_spans",
                    ["tenant_id", "ended_at"])  # fmt: skip
    op.create_table(
        "report_agent_state_intervals",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.BigInteger(), nullable=False),
        sa.Column("entered", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_report_agent_state_intervals_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "agent_id", "state", "reason",
                                name=op.f("pk_report_agent_state_intervals")),
    )  # fmt: skip
    op.add_column("calls", sa.Column("overflow", sa.String(length=16), nullable=True))
    op.add_column("calls", sa.Column("overflow_from_queue_id", _ID, nullable=True))
    for name in OVERFLOWS:
        op.add_column("report_queue_intervals", sa.Column(name, sa.BigInteger(), nullable=False,
                                                          server_default="0"))  # fmt: skip


def downgrade() -> None:
    op.drop_table("report_agent_state_intervals")
    op.drop_index("ix_agent_state_spans_tenant_ended", table_name="agent_state_spans")
    op.drop_index("ix_agent_state_spans_open", table_name="agent_state_spans")
    op.drop_table("agent_state_spans")
    for name in OVERFLOWS:
        op.drop_column("report_queue_intervals", name)
    op.drop_column("calls", "overflow_from_queue_id")
    op.drop_column("calls", "overflow")
