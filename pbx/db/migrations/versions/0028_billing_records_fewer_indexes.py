"""customers, customer_phones, accounts, invoices: no index of tenant_id alone (each table's
unique reference or number index leads with it) and none of customer_phones.customer_id alone
(the unique (customer_id, e164) leads with it): each was one more entry for every row the
billing system's sync writes, and no read needs it

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 11:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain DROP / CREATE INDEX on both databases: no table is copied on SQLite.
_INDEXES = (
    ("ix_customers_tenant_id", "customers", "tenant_id"),
    ("ix_customer_phones_tenant_id", "customer_phones", "tenant_id"),
    ("ix_customer_phones_customer_id", "customer_phones", "customer_id"),
    ("ix_accounts_tenant_id", "accounts", "tenant_id"),
    ("ix_invoices_tenant_id", "invoices", "tenant_id"),
)


def upgrade() -> None:
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], unique=False)
