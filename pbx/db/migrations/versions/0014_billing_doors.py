"""The billing doors: customers' addresses, languages and provider ids; the billing system's
versions and stated balances; invoices' summaries and provider invoices; payments' invoices;
the billing system's entries (statements, external payments, adjustments); idempotency keys;
outgoing billing events, their webhook subscriptions, deliveries and attempts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pbx.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = pbx.db.types.UtcDateTime(timezone=True)
_OLD_KINDS = ("payment", "payment_reversed", "refund", "chargeback", "chargeback_reversed",
              "credit")  # fmt: skip
_KINDS = (*_OLD_KINDS, "statement", "external_payment", "adjustment")
_CUSTOMER_COLUMNS = (
    ("language", sa.String(length=8)),
    ("address_line1", sa.String(length=200)),
    ("address_line2", sa.String(length=200)),
    ("address_city", sa.String(length=100)),
    ("address_postal_code", sa.String(length=20)),
    ("address_country", sa.String(length=2)),
    ("source_version", sa.BigInteger()),
)
_ACCOUNT_COLUMNS = (
    ("source_version", sa.BigInteger()),
    ("reported_balance_minor", sa.BigInteger()),
    ("reported_at", _TIME),
)
_INVOICE_COLUMNS = (
    ("line_summary", sa.String(length=500)),
    ("source_version", sa.BigInteger()),
    ("provider", sa.String(length=32)),
    ("provider_ref", sa.String(length=128)),
    ("updated_at", _TIME),
)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _fk(table: str, column: str, parent: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete=ondelete
    )


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return _fk(table, "tenant_id", "tenants", "CASCADE")


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: SQLite needs no table copy of these parents.
    op.add_column("tenants", sa.Column("billing_ack_hours", sa.Integer(), nullable=False,
                                       server_default=sa.text("48")))  # fmt: skip
    for table, columns in (("customers", _CUSTOMER_COLUMNS), ("accounts", _ACCOUNT_COLUMNS),
                           ("invoices", _INVOICE_COLUMNS)):  # fmt: skip
        for name, type_ in columns:
            op.add_column(table, sa.Column(name, type_, nullable=True))
    # No foreign key: SQLite cannot add one to a parent without copying it (see 0012).
    op.add_column("payments", sa.Column("invoice_id", sa.BigInteger(), nullable=True))
    # Nothing references account_entries yet: batch mode (a copy on SQLite) is safe.
    with op.batch_alter_table("account_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_account_entries_kind_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_account_entries_kind_known"), f"kind IN ({_listed(_KINDS)})"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_account_entries_tenant_id_kind_reference"),
            ["tenant_id", "kind", "reference"],
        )
    op.create_table(
        "provider_customers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_customer_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("provider_customers", "customer_id", "customers", "CASCADE"),
        _tenant("provider_customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_customers")),
        sa.UniqueConstraint(
            "customer_id", "provider", name=op.f("uq_provider_customers_customer_id_provider")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "provider",
            "provider_customer_id",
            name=op.f("uq_provider_customers_tenant_id_provider_provider_customer_id"),
        ),
    )
    op.create_index(op.f("ix_provider_customers_tenant_id"), "provider_customers", ["tenant_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("api_key_id", _ID, nullable=True),
        sa.Column("request_method", sa.String(length=8), nullable=False),
        sa.Column("request_path", sa.String(length=300), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("idempotency_keys", "api_key_id", "api_keys", "SET NULL"),
        _tenant("idempotency_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_idempotency_keys_tenant_id_key")),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index(op.f("ix_idempotency_keys_tenant_id"), "idempotency_keys", ["tenant_id"])
    op.create_table(
        "billing_event_counters",
        sa.Column("tenant_id", _ID, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        _tenant("billing_event_counters"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_event_counters")),
    )
    op.create_table(
        "billing_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("account_id", _ID, nullable=True),
        sa.Column("entry_id", _ID, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("billing_events", "account_id", "accounts", "SET NULL"),
        _fk("billing_events", "entry_id", "account_entries", "SET NULL"),
        _tenant("billing_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_events")),
        sa.UniqueConstraint("public_id", name=op.f("uq_billing_events_public_id")),
        sa.UniqueConstraint("tenant_id", "seq", name=op.f("uq_billing_events_tenant_id_seq")),
    )
    op.create_index("ix_billing_events_unacknowledged", "billing_events",
                    ["tenant_id", "acknowledged_at", "created_at"])  # fmt: skip
    for column in ("account_id", "entry_id", "tenant_id"):
        op.create_index(op.f(f"ix_billing_events_{column}"), "billing_events", [column])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", _TIME, nullable=True),
        sa.Column("failing_since", _TIME, nullable=True),
        sa.Column("created_by", _ID, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("webhook_subscriptions", "created_by", "users", "SET NULL"),
        _tenant("webhook_subscriptions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_index(op.f("ix_webhook_subscriptions_tenant_id"), "webhook_subscriptions",
                    ["tenant_id"])  # fmt: skip
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_latency_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status_known"),
        ),
        _fk("webhook_deliveries", "subscription_id", "webhook_subscriptions", "CASCADE"),
        _fk("webhook_deliveries", "event_id", "billing_events", "CASCADE"),
        _tenant("webhook_deliveries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "subscription_id",
            "event_id",
            name=op.f("uq_webhook_deliveries_subscription_id_event_id"),
        ),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries",
                    ["status", "next_attempt_at"])  # fmt: skip
    op.create_index("ix_webhook_deliveries_order", "webhook_deliveries",
                    ["subscription_id", "account_id", "id"])  # fmt: skip
    for column in ("event_id", "tenant_id"):
        op.create_index(op.f(f"ix_webhook_deliveries_{column}"), "webhook_deliveries", [column])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("delivery_id", _ID, nullable=False),
        sa.Column("attempted_at", _TIME, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        _fk("webhook_attempts", "delivery_id", "webhook_deliveries", "CASCADE"),
        _tenant("webhook_attempts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    for column in ("delivery_id", "tenant_id"):
        op.create_index(op.f(f"ix_webhook_attempts_{column}"), "webhook_attempts", [column])


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_subscriptions",
                  "billing_events", "billing_event_counters", "idempotency_keys",
                  "provider_customers"):  # fmt: skip
        op.drop_table(table)
    with op.batch_alter_table("account_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_account_entries_tenant_id_kind_reference"), type_="unique"
        )
        batch_op.drop_constraint(batch_op.f("ck_account_entries_kind_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_account_entries_kind_known"), f"kind IN ({_listed(_OLD_KINDS)})"
        )
        batch_op.drop_column("reference")
    # Not batch mode on the parents: on SQLite it copies them (see 0012).
    op.drop_column("payments", "invoice_id")
    for table, columns in (("invoices", _INVOICE_COLUMNS), ("accounts", _ACCOUNT_COLUMNS),
                           ("customers", _CUSTOMER_COLUMNS)):  # fmt: skip
        for name, _type in columns:
            op.drop_column(table, name)
    op.drop_column("tenants", "billing_ack_hours")
