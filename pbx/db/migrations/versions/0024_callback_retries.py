"""callback retries: each attempt at calling a customer back is its own call-log row
(calls.callback_of: the call that asked for it, calls.callback_attempt: 1, 2, ...), the
asking call's row says how the callback ended (calls.callback_state: pending, answered,
failed, cancelled), and each queue may set its retry rule (queues.callback_attempts,
callback_spacing_seconds, callback_window_start/_end as HH:MM; unset: 3 attempts, 10
minutes apart, 08:00-21:00 on the customer's clock)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: calls and queues are parent tables (never
    # batch-altered on SQLite).
    if op.get_bind().dialect.name == "sqlite":
        # SQLite takes a REFERENCES clause in ADD COLUMN, not a separate constraint (which
        # alembic would need a batch copy of the table for). No ON DELETE: a call's row goes
        # only with its business, attempts and all.
        op.execute("ALTER TABLE calls ADD COLUMN callback_of INTEGER REFERENCES calls (id)")
    else:
        op.add_column("calls", sa.Column("callback_of", sa.BigInteger(), nullable=True))
        op.create_foreign_key(
            "fk_calls_callback_of_calls", "calls", "calls", ["callback_of"], ["id"]
        )
    op.add_column("calls", sa.Column("callback_attempt", sa.Integer(), nullable=True))
    op.add_column("calls", sa.Column("callback_state", sa.String(length=16), nullable=True))
    op.create_index("ix_calls_callback_of", "calls", ["callback_of"])
    op.add_column("queues", sa.Column("callback_attempts", sa.Integer(), nullable=True))
    op.add_column("queues", sa.Column("callback_spacing_seconds", sa.Integer(), nullable=True))
    op.add_column("queues", sa.Column("callback_window_start", sa.String(length=5), nullable=True))
    op.add_column("queues", sa.Column("callback_window_end", sa.String(length=5), nullable=True))


def downgrade() -> None:
    for column in (
        "callback_window_end", "callback_window_start", "callback_spacing_seconds",
        "callback_attempts",
    ):  # fmt: skip
        op.drop_column("queues", column)
    op.drop_index("ix_calls_callback_of", table_name="calls")
    for column in ("callback_state", "callback_attempt", "callback_of"):
        op.drop_column("calls", column)
