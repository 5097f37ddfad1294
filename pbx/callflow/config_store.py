"""Reads the call flow's configuration (`FlowConfig`) from the database, every tenant's."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from pbx.acd.agents import Membership
from pbx.acd.callback_rule import CallbackRule, rule_of
from pbx.acd.queues import QueueConfig
from pbx.callflow.config import (
    AgentProfile,
    FlowConfig,
    QueueSettings,
    TenantLine,
    agent_key,
    queue_key,
)
from pbx.callflow.hours import HoursError, OpeningHours
from pbx.callflow.routing import ClosedKind, Menu, Route, Verification
from pbx.callflow.self_service_config import menu_from_json
from pbx.db.database import Database
from pbx.db.models import (
    BusinessHours,
    InboundNumber,
    InboundRoute,
    Queue,
    QueueMember,
    Tenant,
    User,
)

log = logging.getLogger(__name__)


async def load_flow_config(database: Database) -> FlowConfig:
    async with database.system_session() as session:
        tenants = (
            await session.execute(select(Tenant.id, Tenant.timezone).order_by(Tenant.id))
        ).all()
    config = _Building()
    for tenant_id, timezone in tenants:
        await _load_tenant(database, tenant_id, config, timezone or "UTC")
    return FlowConfig(config.routes, config.queues, config.agents, config.tenants)


@dataclass
class _Building:
    routes: dict[str, Route] = field(default_factory=dict)
    queues: dict[str, QueueSettings] = field(default_factory=dict)
    agents: dict[str, AgentProfile] = field(default_factory=dict)
    tenants: dict[int, TenantLine] = field(default_factory=dict)


async def _load_tenant(
    database: Database, tenant_id: int, config: _Building, timezone: str
) -> None:
    routes, queues, agents, tenants = config.routes, config.queues, config.agents, config.tenants
    async with database.tenant_autocommit(tenant_id) as session:
        numbers = {n.id: n.e164 for n in await session.scalars(select(InboundNumber))}
        queue_rows = list(await session.scalars(select(Queue)))
        names = {row.id: row.name for row in queue_rows}
        hours = {row.id: row for row in await session.scalars(select(BusinessHours))}
        route_rows = list(await session.scalars(select(InboundRoute)))
        users = list(await session.scalars(select(User).where(User.active.is_(True))))
        members = list(await session.scalars(select(QueueMember)))
    if numbers:
        first = min(numbers)
        tenants[tenant_id] = TenantLine(tenant_id, numbers[first], timezone)
    for row in queue_rows:
        key = queue_key(tenant_id, row.name)
        queues[key] = QueueSettings(
            tenant_id, row.id, row.name, _acd_config(tenant_id, row), row.music_class,
            row.recording_policy,
        )  # fmt: skip
    for row in route_rows:
        did = numbers.get(row.inbound_number_id)
        if did is None or row.queue_id not in names:
            continue
        routes[did] = _route(tenant_id, did, row, names, hours)
    memberships: dict[int, dict[str, Membership]] = {}
    for member in members:
        if member.queue_id in names:
            key = queue_key(tenant_id, names[member.queue_id])
            memberships.setdefault(member.user_id, {})[key] = Membership(
                member.penalty, member.position
            )
    for user in users:
        if user.endpoint:
            agents[agent_key(user.id)] = AgentProfile(
                tenant_id,
                user.id,
                user.display_name,
                user.endpoint,
                skills={str(k): int(v) for k, v in (user.skills or {}).items()},
                memberships=memberships.get(user.id, {}),
            )


def _acd_config(tenant_id: int, row: Queue) -> QueueConfig:
    overflow_target = row.overflow_target
    if row.overflow_kind == "queue" and overflow_target:
        overflow_target = queue_key(tenant_id, overflow_target)
    return QueueConfig(
        queue_key(tenant_id, row.name),
        strategy=row.strategy,
        ring_timeout_s=row.ring_timeout_seconds,
        retry_s=row.retry_seconds,
        wrapup_s=row.wrapup_seconds,
        max_wait_s=row.max_wait_seconds,
        overflow_kind=row.overflow_kind,
        overflow_target=overflow_target,
        announce_position_every_s=row.announce_every_seconds,
        required_skills={str(k): int(v) for k, v in (row.required_skills or {}).items()},
        autopause=row.autopause,
        callback_rule=callback_rule_of(row),
    )


def callback_rule_of(row: Queue) -> CallbackRule:
    """The queue's callback retry rule: each setting it leaves unset is the default's."""
    try:
        return rule_of(
            row.callback_attempts, row.callback_spacing_seconds,
            row.callback_window_start, row.callback_window_end,
        )  # fmt: skip
    except ValueError as exc:  # checked on the way in; a bad row must not stop every queue
        log.error("queue %s: callback rule unreadable (%s): the default applies", row.id, exc)
        return CallbackRule()


def _route(
    tenant_id: int,
    did: str,
    row: InboundRoute,
    names: dict[int, str],
    hours: dict[int, BusinessHours],
) -> Route:
    opening = None
    if row.business_hours_id is not None and row.business_hours_id in hours:
        stored = hours[row.business_hours_id]
        try:
            opening = OpeningHours.parse(stored.timezone, stored.weekly, stored.closed_dates)
        except HoursError as exc:
            # Stored hours are validated on the way in; if they still do not read, keep the
            # line open rather than turn every caller away.
            log.error(
                "business hours %s of tenant %s unreadable (%s): route open",
                stored.id,
                tenant_id,
                exc,
            )
    closed_target = row.closed_target
    if row.closed_kind == "queue" and closed_target:
        closed_target = queue_key(tenant_id, closed_target)
    collections = row.collections_queue_id
    return Route(
        route_id=row.id,
        tenant_id=tenant_id,
        did=did,
        queue=queue_key(tenant_id, names[row.queue_id]),
        collections_queue=queue_key(tenant_id, names[collections])
        if collections in names
        else None,
        hours=opening,
        closed_kind=ClosedKind(row.closed_kind),
        closed_target=closed_target,
        verification=Verification(row.verification),
        verification_attempts=row.verification_attempts,
        menu=_menu(tenant_id, row.menu, set(names.values())),
        recording_policy=row.recording_policy,
        recording_announcement=row.recording_announcement,
        self_service=menu_from_json(row.self_service),
        language=row.language,
    )


def _menu(tenant_id: int, stored: dict[str, Any] | None, queues: set[str]) -> Menu | None:
    """The route's menu with queue keys; options naming a queue that is gone are dropped."""
    if not stored or not stored.get("options"):
        return None
    options = {
        str(digit): queue_key(tenant_id, name)
        for digit, name in stored["options"].items()
        if name in queues
    }
    return Menu(str(stored.get("prompt") or "ledgerline-menu"), options) if options else None
