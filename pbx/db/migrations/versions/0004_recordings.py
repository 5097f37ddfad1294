"""recordings: index columns, pipeline jobs, legal holds, retention, recording policy

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:12:41.208513
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateColumn

import pbx.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_POLICY_KNOWN = "recording_policy IN ('all', 'none', 'on_demand')"
# As recordings.jobs.STEPS was when this revision was written.
_STEP_KNOWN = (
    "step IN ('fetch', 'transcode', 'upload', 'verify', 'index', 'publish', "
    "'delete_source', 'done', 'failed')"
)
_STATUS_KNOWN = "status IN ('recording', 'finishing', 'pending', 'stored', 'failed', 'purged')"
_NEW_RECORDING_COLUMNS = (
    "customer_id", "agent_id", "asterisk_name", "storage", "content_type", "size_bytes",
    "pauses", "started_at", "ended_at", "stored_at", "expires_at", "purged_at",
)  # fmt: skip


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _add_checked_column(table: str, column: sa.Column, check: str, condition: str) -> None:
    """Add a column and its CHECK constraint. SQLite takes both in one ALTER TABLE ADD
    COLUMN; batch mode would copy the table instead, and dropping the old copy of a parent
    table (tenants, queues) with foreign keys on cascades into every child row."""
    if _sqlite():
        spec = CreateColumn(column).compile(dialect=op.get_bind().dialect)
        op.execute(f"ALTER TABLE {table} ADD COLUMN {spec} CONSTRAINT {check} CHECK ({condition})")
    else:
        op.add_column(table, column)
        op.create_check_constraint(op.f(check), table, condition)


def _drop_checked_column(table: str, column: str, check: str) -> None:
    """SQLite drops a column together with its own CHECK, without copying the table."""
    if not _sqlite():
        op.drop_constraint(op.f(check), table, type_="check")
    op.drop_column(table, column)


def upgrade() -> None:
    _add_checked_column(
        "tenants",
        sa.Column("recording_retention_days", sa.Integer(), nullable=True),
        "ck_tenants_recording_retention_days_positive",
        "recording_retention_days > 0",
    )
    _add_checked_column(
        "queues",
        sa.Column("recording_policy", sa.String(length=16), nullable=True),
        "ck_queues_recording_policy_known",
        _POLICY_KNOWN,
    )
    _add_checked_column(
        "inbound_routes",
        sa.Column("recording_policy", sa.String(length=16), nullable=False, server_default="all"),
        "ck_inbound_routes_recording_policy_known",
        _POLICY_KNOWN,
    )
    op.add_column(
        "inbound_routes", sa.Column("recording_announcement", sa.String(length=64), nullable=True)
    )

    # Rows from before this revision had no lifecycle; one the pipeline cannot place is left
    # to operators as failed rather than refused by the new check.
    op.execute(f"UPDATE recordings SET status = 'failed' WHERE NOT ({_STATUS_KNOWN})")
    # On SQLite this copies `recordings`, which is safe: no table refers to it yet.
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("agent_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("asterisk_name", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("storage", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("content_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("pauses", sa.JSON(), nullable=False, server_default="[]"))
        for name in ("started_at", "ended_at", "stored_at", "expires_at", "purged_at"):
            batch_op.add_column(
                sa.Column(name, pbx.db.types.UtcDateTime(timezone=True), nullable=True)
            )
        batch_op.create_foreign_key(
            batch_op.f("fk_recordings_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_recordings_agent_id_users"),
            "users",
            ["agent_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_recordings_tenant_id_asterisk_name"), ["tenant_id", "asterisk_name"]
        )
        batch_op.create_check_constraint(op.f("ck_recordings_status_known"), _STATUS_KNOWN)
        batch_op.create_check_constraint(
            op.f("ck_recordings_storage_known"), "storage IN ('s3', 'local')"
        )
    op.create_index(op.f("ix_recordings_customer_id"), "recordings", ["customer_id"], unique=False)
    op.create_index(
        "ix_recordings_purge",
        "recordings",
        ["tenant_id", "expires_at"],
        unique=False,
        postgresql_where=sa.text("purged_at IS NULL"),
        sqlite_where=sa.text("purged_at IS NULL"),
    )

    op.create_table(
        "recording_jobs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("recording_id", _ID, nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", pbx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", pbx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", pbx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", pbx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", pbx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint(_STEP_KNOWN, name=op.f("ck_recording_jobs_step_known")),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_jobs_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_recording_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_jobs")),
        sa.UniqueConstraint("recording_id", name=op.f("uq_recording_jobs_recording_id")),
    )
    with op.batch_alter_table("recording_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recording_jobs_step_due", ["step", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recording_jobs_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "legal_holds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("call_id", _ID, nullable=True),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", _ID, nullable=True),
        sa.Column("placed_at", pbx.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("released_at", pbx.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("released_by", _ID, nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint(
            "(call_id IS NULL) <> (customer_id IS NULL)", name=op.f("ck_legal_holds_one_target")
        ),
        sa.CheckConstraint("length(reason) > 0", name=op.f("ck_legal_holds_reason_given")),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_legal_holds_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_legal_holds_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["placed_by"],
            ["users.id"],
            name=op.f("fk_legal_holds_placed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["released_by"],
            ["users.id"],
            name=op.f("fk_legal_holds_released_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_legal_holds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_legal_holds_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_legal_holds_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_legal_holds_customer_id"))
        batch_op.drop_index(batch_op.f("ix_legal_holds_call_id"))
    op.drop_table("legal_holds")

    with op.batch_alter_table("recording_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_jobs_tenant_id"))
        batch_op.drop_index("ix_recording_jobs_step_due")
    op.drop_table("recording_jobs")

    op.drop_index("ix_recordings_purge", table_name="recordings")
    op.drop_index(op.f("ix_recordings_customer_id"), table_name="recordings")
    # On SQLite this copies `recordings` again: safe, `recording_jobs` is gone by now.
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_recordings_storage_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_recordings_status_known"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("uq_recordings_tenant_id_asterisk_name"), type_="unique"
        )
        batch_op.drop_constraint(batch_op.f("fk_recordings_agent_id_users"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_recordings_customer_id_customers"), type_="foreignkey"
        )
        for name in reversed(_NEW_RECORDING_COLUMNS):
            batch_op.drop_column(name)

    op.drop_column("inbound_routes", "recording_announcement")
    _drop_checked_column(
        "inbound_routes", "recording_policy", "ck_inbound_routes_recording_policy_known"
    )
    _drop_checked_column("queues", "recording_policy", "ck_queues_recording_policy_known")
    _drop_checked_column(
        "tenants", "recording_retention_days", "ck_tenants_recording_retention_days_positive"
    )
