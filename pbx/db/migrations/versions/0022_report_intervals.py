"""Report intervals: report_queue_intervals (the call log summed per business, quarter hour,
queue and dialled number, waits in bands) and report_agent_intervals (per agent and queue),
added to as calls end and rebuilt by `ledgerline report rebuild`

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:45:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# As pbx.db.models has them at this revision (a migration never follows later changes).
BANDS = (5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 300, 600)
BAND_NAMES = (*(f"le_{edge}" for edge in BANDS), "gt_600")
QUEUE_COUNTS = (
    "calls", "offered", "answered", "abandoned", "overflowed", "closed", "callbacks",
    "voicemail", "failed", "waited", "wait_sum", "answer_wait_sum", "abandon_wait_sum",
    "talk_sum",
    *(f"{kind}_{band}" for kind in ("waited", "answered", "abandoned") for band in BAND_NAMES),
    "wait_max",
)  # fmt: skip
AGENT_COUNTS = ("handled", "inbound", "outbound", "talk_sum", "answer_wait_sum", "talk_max")


def _counts(names: Sequence[str]) -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f(f"fk_{table}_tenant_id_tenants"),
                                ondelete="CASCADE"),
    ]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "report_queue_intervals",
        *_tenant("report_queue_intervals"),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        sa.Column("did", sa.String(length=16), nullable=False),
        *_counts(QUEUE_COUNTS),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "queue_id", "did",
                                name=op.f("pk_report_queue_intervals")),
    )  # fmt: skip
    op.create_table(
        "report_agent_intervals",
        *_tenant("report_agent_intervals"),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("queue_id", sa.BigInteger(), nullable=False),
        *_counts(AGENT_COUNTS),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "agent_id", "queue_id",
                                name=op.f("pk_report_agent_intervals")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("report_agent_intervals")
    op.drop_table("report_queue_intervals")
