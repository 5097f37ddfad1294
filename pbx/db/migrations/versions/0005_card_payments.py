"""payments: the call a payment was taken in, and the card's brand and last four digits

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Batch mode copies the table on SQLite: safe here, no table references payments.
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("card_brand", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("card_last4", sa.String(length=4), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_payments_call_id_calls"), "calls", ["call_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payments_call_id_calls"), type_="foreignkey")
        batch_op.drop_column("card_last4")
        batch_op.drop_column("card_brand")
        batch_op.drop_column("call_id")
