"""Tenant isolation enforced by the ORM session, not by each query's author.

A session opened for a tenant adds `tenant_id = :tenant` to every ORM select, update and
delete that touches a tenant-owned table (bulk updates by primary key included), refuses to
insert or flush a row of another tenant, and refuses Core statements on tenant-owned tables
(they would bypass the scoping). A session opened for no tenant refuses to touch
tenant-owned tables at all unless it was opened as a system session (finding the tenant from
a dialed number, migrations, the demo seed). Raw `text()` SQL is not inspected: keep it out
of tenant code.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from pbx.db.models import Base, TenantOwned

TENANT_KEY = "tenant_id"
SYSTEM_KEY = "system"


class CrossTenantAccess(Exception):
    """A statement or write would reach rows outside the session's tenant."""


def tenant_tables() -> frozenset[Table]:
    return frozenset(
        mapper.local_table
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantOwned)
    )


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    if any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers):
        return True
    return _core_tenant_tables(state)


def _core_tenant_tables(state: ORMExecuteState) -> bool:
    tables = find_tables(state.statement, include_crud=True, include_joins=True)
    return not tenant_tables().isdisjoint(tables)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    info = state.session.info
    if info.get(SYSTEM_KEY):
        return
    tenant_id = info.get(TENANT_KEY)
    if tenant_id is None:
        if _touches_tenant_rows(state):
            raise CrossTenantAccess("a tenant-owned table was queried without a tenant")
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent rows were already scoped
    if not state.is_orm_statement:
        if _core_tenant_tables(state):
            raise CrossTenantAccess("Core statement on a tenant-owned table: use the ORM entity")
        return
    if state.is_insert:
        _check_inserted_tenants(state, tenant_id)
    elif state.is_update and state.is_executemany:
        # ORM bulk UPDATE by primary key skips loader criteria; its WHERE is ANDed per row.
        entity = state.bind_mapper.class_ if state.bind_mapper else None
        if entity is not None and issubclass(entity, TenantOwned):
            state.statement = state.statement.where(entity.tenant_id == tenant_id)
            # Required with extra WHERE criteria; objects already loaded are not refreshed.
            state.update_execution_options(synchronize_session=None)
    elif state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantOwned,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
                track_closure_variables=False,
            )
        )


def _check_inserted_tenants(state: ORMExecuteState, tenant_id: int) -> None:
    """Every row a tenant session inserts names that tenant. Rows must come as parameter
    dictionaries: values built into the statement (`.values(...)`) cannot be checked."""
    entity = state.bind_mapper.class_ if state.bind_mapper else None
    if entity is None or not issubclass(entity, TenantOwned):
        return
    rows = state.parameters if isinstance(state.parameters, list) else [state.parameters]
    if not all(row and row.get("tenant_id") == tenant_id for row in rows):
        raise CrossTenantAccess(
            f"{entity.__name__} rows inserted in tenant {tenant_id} must each carry its "
            "tenant_id as a parameter"
        )


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    if session.info.get(SYSTEM_KEY):
        return
    tenant_id = session.info.get(TENANT_KEY)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if tenant_id is None:
            raise CrossTenantAccess(f"{type(obj).__name__} written without a tenant")
        if obj.tenant_id is None and obj in session.new:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise CrossTenantAccess(
                f"{type(obj).__name__} of tenant {obj.tenant_id} written in tenant {tenant_id}"
            )
