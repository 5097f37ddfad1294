"""Businesses as the platform operator sees them: created with their numbers and first admin
in one transaction, listed, changed, disabled and enabled. Every change is audited in the
business it changes, naming the operator (a platform token, or the CLI's user)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin.agents import AgentSettings, create_agent
from pbx.audit import Actor, Target, record
from pbx.db import tenancy
from pbx.db.database import Database
from pbx.db.models import InboundNumber, Tenant, UserSession
from pbx.platform import links, rules
from pbx.platform.errors import DidTaken, Invalid, SlugTaken, UnknownTenant


@dataclass(frozen=True)
class NewTenant:
    """`ledgerline tenant create` / POST /platform/tenants, as typed."""

    slug: str
    name: str
    region: str
    currency: str
    timezone: str
    dids: tuple[str, ...]
    admin: str  # the first admin's username
    admin_name: str | None = None  # their display name (default: the username)
    admin_email: str | None = None  # where they are told what needs them (webhooks)
    language: str | None = None  # what callers hear (he, lt, en); None: en


@dataclass(frozen=True)
class TenantChange:
    """What `tenant update` changes; None (or empty) leaves it as it is."""

    name: str | None = None
    region: str | None = None
    currency: str | None = None
    timezone: str | None = None
    add_dids: tuple[str, ...] = ()
    remove_dids: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class TenantView:
    id: int
    slug: str
    name: str
    region: str
    currency: str
    timezone: str
    disabled: bool
    created_at: datetime
    dids: tuple[str, ...] = field(default=())
    language: str = "en"


@dataclass(frozen=True)
class Provisioned:
    tenant: TenantView
    admin_id: int
    link: links.OneTimeLink


def checked(command: NewTenant) -> NewTenant:
    """The command as it will be stored, or `Invalid` with every problem."""
    problems = rules.Problems()
    kept = NewTenant(
        rules.slug(command.slug, problems), rules.name(command.name, problems),
        rules.region(command.region, problems), rules.currency(command.currency, problems),
        rules.timezone(command.timezone, problems), rules.dids(command.dids, problems),
        rules.username(command.admin, problems),
        rules.name(command.admin_name, problems, "admin_name") if command.admin_name else None,
        rules.email(command.admin_email, problems) if command.admin_email is not None else None,
        rules.language(command.language, problems) if command.language is not None else None,
    )  # fmt: skip
    if not command.dids:
        problems.add("did", "at least one number")
    if problems.found:
        raise Invalid(problems.found)
    return kept


async def create_tenant(
    database: Database, command: NewTenant, *, actor: Actor, now: datetime
) -> Provisioned:
    """The business, its numbers, its first admin (no password: the link sets it) and the
    link, or nothing at all."""
    command = checked(command)
    try:
        async with database.system_session() as session, session.begin():
            if await session.scalar(select(Tenant.id).where(Tenant.slug == command.slug)):
                raise SlugTaken(command.slug)
            await _refuse_taken(session, command.dids, tenant_id=None)
            tenant = Tenant(slug=command.slug, name=command.name, default_region=command.region,
                            currency=command.currency, timezone=command.timezone,
                            language=command.language, created_at=now)  # fmt: skip
            session.add(tenant)
            await session.flush()
            with _narrowed(session, tenant.id):
                session.add_all(InboundNumber(e164=did) for did in command.dids)
                settings = AgentSettings(command.admin, command.admin_name or command.admin,
                                         role="admin", email=command.admin_email)  # fmt: skip
                admin = await create_agent(session, tenant_id=tenant.id, actor=actor,
                                           settings=settings, password_hash=None)  # fmt: skip
                link = await links.issue(session, tenant_id=tenant.id, user_id=admin.id,
                                         purpose="invite", now=now)  # fmt: skip
                view = _view(tenant, command.dids)
                _audit(session, tenant.id, actor, "tenant.create", _details(view))
                await session.flush()
    except IntegrityError:  # a slug or number taken between the checks and the commit
        raise Invalid([("slug", "the slug or a number was taken meanwhile: try again")]) from None
    return Provisioned(view, admin.id, link)


async def list_tenants(database: Database) -> list[TenantView]:
    async with database.system_session() as session:
        numbers = await _numbers(session)
        rows = await session.scalars(select(Tenant).order_by(Tenant.slug))
        return [_view(row, numbers.get(row.id, ())) for row in rows]


async def get_tenant(database: Database, slug: str) -> TenantView:
    async with database.system_session() as session:
        row = await _tenant(session, slug)
        return _view(row, (await _numbers(session, row.id)).get(row.id, ()))


async def update_tenant(
    database: Database, slug: str, change: TenantChange, *, actor: Actor
) -> TenantView:
    change = _checked_change(change)
    async with database.system_session() as session, session.begin():
        row = await _tenant(session, slug)
        await _refuse_taken(session, change.add_dids, tenant_id=row.id)
        owned = set((await _numbers(session, row.id)).get(row.id, ()))
        strangers = [did for did in change.remove_dids if did not in owned]
        if strangers:
            raise Invalid([("remove_did", f"{did} is not this business's number")
                           for did in strangers])  # fmt: skip
        for name in ("name", "region", "currency", "timezone", "language"):
            value = getattr(change, name)
            if value is not None:
                setattr(row, "default_region" if name == "region" else name, value)
        with _narrowed(session, row.id):
            session.add_all(InboundNumber(e164=did) for did in change.add_dids if did not in owned)
            if change.remove_dids:
                await session.execute(
                    delete(InboundNumber).where(InboundNumber.e164.in_(change.remove_dids))
                )
            _audit(session, row.id, actor, "tenant.update", _change_details(change))
            await session.flush()
        return _view(row, (await _numbers(session, row.id)).get(row.id, ()))


async def set_disabled(
    database: Database, slug: str, disabled: bool, *, actor: Actor
) -> TenantView:
    """Disable (its calls go to the dialplan's fallback, its users are signed out and cannot
    sign in) or enable a business again; nothing is deleted."""
    async with database.system_session() as session, session.begin():
        row = await _tenant(session, slug)
        if row.disabled != disabled:
            row.disabled = disabled
            if disabled:
                await session.execute(delete(UserSession).where(UserSession.tenant_id == row.id))
            action = "tenant.disable" if disabled else "tenant.enable"
            _audit(session, row.id, actor, action, {"slug": row.slug})
        return _view(row, (await _numbers(session, row.id)).get(row.id, ()))


@contextmanager
def _narrowed(session: AsyncSession, tenant_id: int) -> Iterator[None]:
    """The provisioning transaction, for a while, as the new business's own session: its rows
    (numbers, the admin, audit entries) are written by the admin services under the same
    tenancy rules as an admin's change, in the one transaction that also made the tenant."""
    info = session.info
    info.pop(tenancy.SYSTEM_KEY, None)
    info[tenancy.TENANT_KEY] = tenant_id
    try:
        yield
    finally:
        info.pop(tenancy.TENANT_KEY, None)
        info[tenancy.SYSTEM_KEY] = True


def _checked_change(change: TenantChange) -> TenantChange:
    problems = rules.Problems()
    kept = TenantChange(
        rules.name(change.name, problems) if change.name is not None else None,
        rules.region(change.region, problems) if change.region is not None else None,
        rules.currency(change.currency, problems) if change.currency is not None else None,
        rules.timezone(change.timezone, problems) if change.timezone is not None else None,
        rules.dids(change.add_dids, problems, "add_did"),
        rules.dids(change.remove_dids, problems, "remove_did"),
        rules.language(change.language, problems) if change.language is not None else None,
    )  # fmt: skip
    if set(kept.add_dids) & set(kept.remove_dids):
        problems.add("add_did", "a number is both added and removed")
    if problems.found:
        raise Invalid(problems.found)
    return kept


async def _refuse_taken(
    session: AsyncSession, dids: tuple[str, ...], tenant_id: int | None
) -> None:
    """A number another business holds is refused (whose, not said); the unique key on
    numbers catches one taken between this check and the commit."""
    if not dids:
        return
    holders = await session.execute(
        select(InboundNumber.e164, InboundNumber.tenant_id).where(InboundNumber.e164.in_(dids))
    )
    for did, holder in holders.all():
        if holder != tenant_id:
            raise DidTaken(did)


async def _tenant(session: AsyncSession, slug: str) -> Tenant:
    row = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if row is None:
        raise UnknownTenant(slug)
    return row


async def _numbers(
    session: AsyncSession, tenant_id: int | None = None
) -> dict[int, tuple[str, ...]]:
    query = select(InboundNumber.tenant_id, InboundNumber.e164).order_by(InboundNumber.e164)
    if tenant_id is not None:
        query = query.where(InboundNumber.tenant_id == tenant_id)
    found: dict[int, tuple[str, ...]] = {}
    for owner, e164 in (await session.execute(query)).all():
        found[owner] = (*found.get(owner, ()), e164)
    return found


def _view(row: Tenant, dids: tuple[str, ...]) -> TenantView:
    return TenantView(row.id, row.slug, row.name, row.default_region, row.currency,
                      row.timezone, row.disabled, row.created_at, tuple(dids),
                      row.language or "en")  # fmt: skip


def _details(view: TenantView) -> dict[str, Any]:
    return {"slug": view.slug, "name": view.name, "region": view.region,
            "currency": view.currency, "timezone": view.timezone,
            "language": view.language, "dids": list(view.dids)}  # fmt: skip


def _change_details(change: TenantChange) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in vars(change).items() if value not in (None, ())}  # fmt: skip


def _audit(session: AsyncSession, tenant_id: int, actor: Actor, action: str,
           details: dict[str, Any]) -> None:  # fmt: skip
    record(session, tenant_id=tenant_id, actor=actor, action=action,
           target=Target("tenant", tenant_id), details=details)
