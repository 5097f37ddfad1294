from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pbx.admin.agents import (
    AgentSettings,
    OwnAccess,
    check_own_access,
    delete_agent,
    update_agent,
)
from pbx.audit import By
from pbx.db.database import Database
from pbx.db.models import AuditEntry, User
from tests.factories import make_tenant


async def _tenant_with_users(database: Database) -> tuple[int, int, int]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550100"])
    async with database.tenant_session(tenant) as session, session.begin():
        boss = User(username="boss", display_name="Boss", role="admin")
        dana = User(username="dana", display_name="Dana", role="agent")
        session.add_all([boss, dana])
        await session.flush()
        return tenant, boss.id, dana.id


async def _counts(database: Database, tenant: int) -> tuple[int, int]:
    async with database.tenant_session(tenant) as session:
        users = await session.scalar(select(func.count()).select_from(User))
        audits = await session.scalar(select(func.count()).select_from(AuditEntry))
        return int(users or 0), int(audits or 0)


async def test_an_admin_deletes_another_user_and_it_is_audited(database: Database) -> None:
    tenant, boss, dana = await _tenant_with_users(database)

    async with database.tenant_session(tenant) as session, session.begin():
        await delete_agent(session, tenant_id=tenant, actor=By("admin:boss", boss), agent_id=dana)

    assert await _counts(database, tenant) == (1, 1)


async def test_an_admin_cannot_delete_themselves(database: Database) -> None:
    tenant, boss, _ = await _tenant_with_users(database)

    with pytest.raises(OwnAccess):
        async with database.tenant_session(tenant) as session, session.begin():
            await delete_agent(
                session, tenant_id=tenant, actor=By("admin:boss", boss), agent_id=boss
            )

    assert await _counts(database, tenant) == (2, 0)


@pytest.mark.parametrize(("role", "active"), [("supervisor", True), ("admin", False)])
def test_an_admin_cannot_drop_their_own_admin_role_or_deactivate_themselves(
    role: str, active: bool
) -> None:
    with pytest.raises(OwnAccess):
        check_own_access(By("admin:boss", 1), 1, role=role, active=active)


def test_an_admin_may_change_another_users_role_and_activity() -> None:
    check_own_access(By("admin:boss", 1), 2, role="agent", active=False)
    check_own_access(By("admin:boss", 1), 1, role="admin", active=True)


@pytest.mark.parametrize(("settings", "password_hash", "ends_sessions"), [
    (AgentSettings("dana", "Dana", role="agent"), None, False),
    (AgentSettings("dana", "Dana Levi", role="supervisor"), None, True),
    (AgentSettings("dana", "Dana", active=False), None, True),
    (AgentSettings("dana", "Dana"), "argon2-hash", True),
])  # fmt: skip
async def test_a_users_sessions_end_when_their_role_activity_or_password_changes(
    database: Database, settings: AgentSettings, password_hash: str | None,
    ends_sessions: bool,
) -> None:  # fmt: skip
    tenant, boss, dana = await _tenant_with_users(database)

    async with database.tenant_session(tenant) as session, session.begin():
        changed = await update_agent(session, tenant_id=tenant, actor=By("admin:boss", boss),
                                     agent_id=dana, settings=settings,
                                     password_hash=password_hash)  # fmt: skip

    assert changed.access_changed is ends_sessions
    assert await _counts(database, tenant) == (2, 1)
