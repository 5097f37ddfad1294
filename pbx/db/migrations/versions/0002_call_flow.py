"""call flow: queues, members, routes, hours, ACD snapshots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:32:46.385939
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acd_snapshots",
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("saved_at", pbx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_acd_snapshots")),
    )
    op.create_table(
        "business_hours",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("weekly", sa.JSON(), nullable=False),
        sa.Column("closed_dates", sa.JSON(), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_business_hours_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_hours")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_business_hours_tenant_id_name")),
    )
    with op.batch_alter_table("business_hours", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_business_hours_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "inbound_routes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "inbound_number_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("queue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "collections_queue_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "business_hours_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("closed_kind", sa.String(length=16), nullable=False),
        sa.Column("closed_target", sa.String(length=64), nullable=False),
        sa.Column("verification", sa.String(length=16), nullable=False),
        sa.Column("verification_attempts", sa.Integer(), nullable=False),
        sa.Column("menu", sa.JSON(), nullable=False),
        sa.Column("updated_at", pbx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.CheckConstraint(
            "closed_kind IN ('queue', 'voicemail', 'hangup')",
            name=op.f("ck_inbound_routes_closed_kind_known"),
        ),
        sa.CheckConstraint(
            "verification IN ('none', 'pin', 'date_of_birth')",
            name=op.f("ck_inbound_routes_verification_known"),
        ),
        sa.ForeignKeyConstraint(
            ["business_hours_id"],
            ["business_hours.id"],
            name=op.f("fk_inbound_routes_business_hours_id_business_hours"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["collections_queue_id"],
            ["queues.id"],
            name=op.f("fk_inbound_routes_collections_queue_id_queues"),
        ),
        sa.ForeignKeyConstraint(
            ["inbound_number_id"],
            ["inbound_numbers.id"],
            name=op.f("fk_inbound_routes_inbound_number_id_inbound_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_inbound_routes_queue_id_queues")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inbound_routes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_routes")),
        sa.UniqueConstraint("inbound_number_id", name=op.f("uq_inbound_routes_inbound_number_id")),
    )
    with op.batch_alter_table("inbound_routes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_routes_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "queue_members",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("queue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_members_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_queue_members_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_queue_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_members")),
        sa.UniqueConstraint("queue_id", "user_id", name=op.f("uq_queue_members_queue_id_user_id")),
    )
    with op.batch_alter_table("queue_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queue_members_queue_id"), ["queue_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_queue_members_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_queue_members_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=8), nullable=False, server_default="inbound")
        )
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("verified", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("wait_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("talk_seconds", sa.Integer(), nullable=True))
        batch_op.create_index("ix_calls_tenant_arrived", ["tenant_id", "arrived_at"], unique=False)
        batch_op.create_check_constraint(
            op.f("ck_calls_outcome_known"),
            "outcome IN ('answered', 'abandoned', 'overflowed', 'voicemail', 'callback', "
            "'closed', 'failed')",
        )

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retry_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("overflow_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("overflow_target", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("announce_every_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("required_skills", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(
            sa.Column("autopause", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column(
                "music_class", sa.String(length=64), nullable=False, server_default="ledgerline"
            )
        )
        batch_op.add_column(
            sa.Column(
                "updated_at",
                pbx.db.types.UtcDateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_queues_strategy_known"),
            "strategy IN ('ringall', 'leastrecent', 'fewestcalls', 'rrmemory', 'linear', 'random')",
        )
        batch_op.create_check_constraint(
            op.f("ck_queues_overflow_kind_known"),
            "overflow_kind IN ('queue', 'voicemail', 'callback')",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skills", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("skills")

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_queues_overflow_kind_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_queues_strategy_known"), type_="check")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("music_class")
        batch_op.drop_column("autopause")
        batch_op.drop_column("required_skills")
        batch_op.drop_column("announce_every_seconds")
        batch_op.drop_column("overflow_target")
        batch_op.drop_column("overflow_kind")
        batch_op.drop_column("retry_seconds")

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_calls_outcome_known"), type_="check")
        batch_op.drop_index("ix_calls_tenant_arrived")
        batch_op.drop_column("talk_seconds")
        batch_op.drop_column("wait_seconds")
        batch_op.drop_column("verified")
        batch_op.drop_column("priority")
        batch_op.drop_column("direction")

    with op.batch_alter_table("queue_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_members_user_id"))
        batch_op.drop_index(batch_op.f("ix_queue_members_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_queue_members_queue_id"))

    op.drop_table("queue_members")
    with op.batch_alter_table("inbound_routes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_routes_tenant_id"))

    op.drop_table("inbound_routes")
    with op.batch_alter_table("business_hours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_business_hours_tenant_id"))

    op.drop_table("business_hours")
    op.drop_table("acd_snapshots")
