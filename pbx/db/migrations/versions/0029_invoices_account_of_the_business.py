"""invoices: one foreign key, (tenant_id, account_id) -> accounts (tenant_id, id), instead of
account_id -> accounts and tenant_id -> tenants. The database now holds that an invoice's
business is its account's (only the ingest's code held it before), and a row written is
checked once instead of twice: the billing system's sync copies a million invoices, and the
two checks were a fifth of PostgreSQL's CPU for each. accounts gets the unique index on
(tenant_id, id) such a key needs.

On SQLite, changing a table's constraints means copying it, and dropping the old invoices
table with foreign keys on would cascade-delete the collection attempts that name its
invoices (the trap 0010 and 0014 avoid). The foreign keys are not stored with the rows, so
the table's definition is edited in place as SQLite documents for such changes
(writable_schema, then a new schema_version), and `PRAGMA foreign_key_check` must find no
invoice whose business differs from its account's.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 14:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "uq_accounts_tenant_id_id"
_ONE = "fk_invoices_tenant_id_accounts"
_TWO = ("fk_invoices_account_id_accounts", "fk_invoices_tenant_id_tenants")
_SQLITE_ONE = (
    f"CONSTRAINT {_ONE} FOREIGN KEY(tenant_id, account_id) REFERENCES accounts (tenant_id, id)"
    " ON DELETE CASCADE"
)
_SQLITE_TWO = (
    f"CONSTRAINT {_TWO[0]} FOREIGN KEY(account_id) REFERENCES accounts (id) ON DELETE CASCADE",
    f"CONSTRAINT {_TWO[1]} FOREIGN KEY(tenant_id) REFERENCES tenants (id) ON DELETE CASCADE",
)


def upgrade() -> None:
    op.create_index(_INDEX, "accounts", ["tenant_id", "id"], unique=True)
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        # Checked against every invoice as it is added: one of another business's account
        # stops the migration here.
        op.create_foreign_key(_ONE, "invoices", "accounts", ["tenant_id", "account_id"],
                              ["tenant_id", "id"], ondelete="CASCADE")  # fmt: skip
        for name in _TWO:
            op.drop_constraint(name, "invoices", type_="foreignkey")
        return
    _edit_sqlite_invoices(_SQLITE_TWO, (_SQLITE_ONE,))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.create_foreign_key(_TWO[0], "invoices", "accounts", ["account_id"], ["id"],
                              ondelete="CASCADE")  # fmt: skip
        op.create_foreign_key(_TWO[1], "invoices", "tenants", ["tenant_id"], ["id"],
                              ondelete="CASCADE")  # fmt: skip
        op.drop_constraint(_ONE, "invoices", type_="foreignkey")
    else:
        _edit_sqlite_invoices((_SQLITE_ONE,), _SQLITE_TWO)
    op.drop_index(_INDEX, table_name="accounts")


def _edit_sqlite_invoices(before: Sequence[str], after: Sequence[str]) -> None:
    """Replace the `before` constraint clauses of invoices' definition by `after` in place."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'invoices'"
    ).scalar_one()
    clauses = [part.strip() for part in sql.split(", \n")]
    if any(clauses.count(clause) != 1 for clause in before):
        raise RuntimeError("invoices: its foreign keys are not the ones this migration knows")
    first = clauses.index(before[0])
    kept = [part for part in clauses if part not in before]
    edited = ", \n\t".join([*kept[:first], *after, *kept[first:]])
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'invoices'", (edited,)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    wrong = bind.exec_driver_sql("PRAGMA foreign_key_check(invoices)").fetchall()
    if wrong:
        raise RuntimeError(f"invoices: {len(wrong)} rows whose business is not their account's")
