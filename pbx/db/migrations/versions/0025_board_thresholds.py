"""board thresholds: each queue may set when its wall-board tile turns amber and red
(queues.board_wait_amber_seconds and board_wait_red_seconds: the longest wait past them;
board_service_level_amber_pct and board_service_level_red_pct: today's service level below
them); unset: derived as before (`pbx.reports.board.thresholds_for`)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("board_wait_amber_seconds", "board_wait_red_seconds",
           "board_service_level_amber_pct", "board_service_level_red_pct")  # fmt: skip


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: queues is a parent table (never batch-altered
    # on SQLite).
    for name in COLUMNS:
        op.add_column("queues", sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("queues", name)
