"""Tenant isolation enforced by the ORM session, not by each query's author.

A session opened for a tenant adds `tenant_id = :tenant` to every ORM statement that touches a
tenant-owned table, and refuses to write a row of another tenant. A session opened for no
tenant refuses to touch tenant-owned tables at all unless it was opened as a system session
(finding the tenant from a dialed number, migrations, the demo seed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria

from pbx.db.models import TenantOwned

TENANT_KEY = "tenant_id"
SYSTEM_KEY = "system"


class CrossTenantAccess(Exception):
    """A statement or write would reach rows outside the session's tenant."""


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers)


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
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantOwned,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
                track_closure_variables=False,
            )
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
