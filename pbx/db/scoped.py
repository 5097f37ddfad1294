"""Hot-path statements, built once and scoped to a tenant by construction.

The ORM session's guard (`pbx.db.tenancy`) re-scopes every statement as it runs; on the path
of every call (the call log, the screen-pop) that costs more than the query itself. A
`Scoped` statement is built once at import: it adds `tenant_id = :tenant_id` for every
tenant-owned table it names and refuses to be built if it reaches a tenant-owned table it
was not told to scope. It runs only through a `TenantConnection`, which supplies the
tenant, so tenant code still cannot run an unscoped statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Delete,
    Insert,
    Select,
    Update,
    bindparam,
    select,
    union_all,
)
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.util import find_tables
from sqlalchemy.sql.visitors import replacement_traverse

from pbx.db.models import TenantOwned
from pbx.db.tenancy import TENANT_KEY, CrossTenantAccess, tenant_tables

TENANT = "tenant_id"  # an inserted row's column
SCOPE = "scope_tenant_id"  # the filter's parameter (a column's own name is reserved in DML)

Statement = Select[Any] | CompoundSelect | Insert | Update | Delete


class Scoped:
    def __init__(self, statement: Statement, *owned: type[TenantOwned]) -> None:
        named = {entity.__table__ for entity in owned}  # type: ignore[attr-defined]
        reached = set(find_tables(statement, include_crud=True, include_joins=True))
        unscoped = (reached & tenant_tables()) - named
        if unscoped:
            names = ", ".join(sorted(table.name for table in unscoped))
            raise CrossTenantAccess(f"statement reaches tenant-owned {names} without scoping it")
        # Compiled forms kept with the statement, per dialect (`pbx.db.direct`).
        self.compiled: dict[str, Any] = {}
        # Inserted rows carry the connection's tenant (a parameter it sets, not the caller).
        self.inserts = isinstance(statement, Insert)
        if self.inserts:
            self.statement: Statement = statement
        else:
            scope = bindparam(SCOPE)
            self.statement = statement.where(*(entity.tenant_id == scope for entity in owned))

    def parameters(self, given: Mapping[str, Any] | None, tenant_id: int) -> dict[str, Any]:
        """The caller's parameters (which must not name the tenant) with the connection's
        tenant: an inserted row's column, or the filter's parameter."""
        values = dict(given or {})
        if TENANT in values or SCOPE in values:
            raise CrossTenantAccess("the tenant comes from the connection, not the parameters")
        values[TENANT if self.inserts else SCOPE] = tenant_id
        return values


class ScopedUnion(Scoped):
    """Several scoped SELECTs sent as one statement (UNION ALL): one round trip where a
    hot path would make several. Each branch is scoped alone, then read through a subquery
    (so that its own ORDER BY and LIMIT hold, SQLite allowing neither in a branch); every
    branch must give the same labelled columns, typed alike."""

    def __init__(self, *branches: Scoped, order_by: Sequence[str]) -> None:
        if any(branch.inserts or not isinstance(branch.statement, Select) for branch in branches):
            raise TypeError("a union takes SELECTs")
        selects = [select(*branch.statement.subquery().c) for branch in branches]
        union = union_all(*selects)
        self.statement = union.order_by(*(union.selected_columns[name] for name in order_by))
        self.compiled = {}
        self.inserts = False


class ScopedValues(Scoped):
    """Several scoped one-column SELECTs read as one row of their values (each a scalar
    subquery, scoped alone, None where it finds no row): the names a row's ids stand for in
    one round trip."""

    def __init__(self, *branches: Scoped) -> None:
        if any(branch.inserts or not isinstance(branch.statement, Select) for branch in branches):
            raise TypeError("a row of values takes SELECTs")
        self.statement = select(*(branch.statement.scalar_subquery() for branch in branches))
        self.compiled = {}
        self.inserts = False


class ScopedWith(Scoped):
    """A scoped change that returns its rows (an UPDATE ... RETURNING) read with scoped
    values for each row, in one statement: `WITH changed AS (<change>) SELECT changed.*,
    <values>`. The values (a `ScopedValues`, each scoped alone) take the row's columns
    for the parameters `bound` names (parameter -> returned column): a row changed and
    the names its ids stand for in one round trip. PostgreSQL only (SQLite has no
    data-modifying WITH)."""

    def __init__(self, change: Scoped, values: ScopedValues, bound: Mapping[str, str]) -> None:
        if change.inserts or not isinstance(change.statement, Update | Delete):
            raise TypeError("a change read with values is an UPDATE or a DELETE")
        changed = change.statement.cte("changed")

        def from_the_row(element: Any, **_: Any) -> Any:
            if isinstance(element, BindParameter) and element.key in bound:
                return changed.c[bound[element.key]]
            return None

        read = replacement_traverse(values.statement, {}, from_the_row)
        self.statement = select(*changed.c, *read.selected_columns)
        self.compiled = {}
        self.inserts = False


class TenantConnection:
    """A connection that runs `Scoped` statements for one tenant, and nothing else."""

    def __init__(self, connection: AsyncConnection, tenant_id: int) -> None:
        self._connection = connection
        self._tenant_id = tenant_id

    async def execute(
        self, scoped: Scoped, parameters: Mapping[str, Any] | None = None
    ) -> Result[Any]:
        values = scoped.parameters(parameters, self._tenant_id)
        return await self._connection.execute(scoped.statement, values)

    async def rows(
        self, scoped: Scoped, parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        return (await self.execute(scoped, parameters)).all()

    async def execute_many(self, scoped: Scoped, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement run for each of `rows` (the driver's executemany)."""
        if rows:
            values = [scoped.parameters(row, self._tenant_id) for row in rows]
            await self._connection.execute(scoped.statement, values)


async def session_connection(session: AsyncSession) -> TenantConnection:
    """A tenant session's own connection, inside its transaction: `Scoped` statements that
    must commit or roll back with the session's other work. The tenant is the session's."""
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is None:
        raise CrossTenantAccess("scoped statements need a tenant session")
    return TenantConnection(await session.connection(), tenant_id)
