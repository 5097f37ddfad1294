"""An account's promises and plans as the desk reads them (newest first, with what each
was paid in time and late), and a business's collections settings (audited when changed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collections import access, rules
from billing_bridge.collections.access import Staff
from billing_bridge.collections.errors import NotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import Account, PaymentPlan, PlanInstalment, Promise, Tenant

HISTORY = 50  # promises and plans an account's list shows, newest first


@dataclass(frozen=True, slots=True)
class AccountHistory:
    account_id: int
    promises: list[Promise]
    plans: list[tuple[PaymentPlan, list[PlanInstalment]]]

    def counts(self) -> dict[str, int]:
        """Promises and instalments by how they ended: kept, broken, cancelled, open."""
        counts = dict.fromkeys(("open", "kept", "broken", "cancelled"), 0)
        for promise in self.promises:
            counts[promise.status] += 1
        for _, instalments in self.plans:
            for instalment in instalments:
                counts["open" if instalment.status == "pending" else instalment.status] += 1
        return counts


async def account_history(session: AsyncSession, account_id: int, staff: Staff) -> AccountHistory:
    account = await session.scalar(select(Account).where(Account.id == account_id))
    if account is None:
        raise NotFound("account not found")
    await access.may_act_on(session, account, staff)
    promises = (await session.scalars(
        select(Promise).where(Promise.account_id == account_id)
        .order_by(Promise.id.desc()).limit(HISTORY)
    )).all()  # fmt: skip
    plans = (await session.scalars(
        select(PaymentPlan).where(PaymentPlan.account_id == account_id)
        .order_by(PaymentPlan.id.desc()).limit(HISTORY)
    )).all()  # fmt: skip
    by_plan: dict[int, list[PlanInstalment]] = {plan.id: [] for plan in plans}
    if by_plan:
        rows = await session.scalars(
            select(PlanInstalment).where(PlanInstalment.plan_id.in_(list(by_plan)))
            .order_by(PlanInstalment.plan_id, PlanInstalment.number)
        )  # fmt: skip
        for instalment in rows:
            by_plan[instalment.plan_id].append(instalment)
    return AccountHistory(account_id, list(promises),
                          [(plan, by_plan[plan.id]) for plan in plans])  # fmt: skip


@dataclass(frozen=True, slots=True)
class CollectionsSettings:
    promise_max_days: int
    promise_min_share_pct: int


def settings_of(tenant: Tenant) -> CollectionsSettings:
    caps = rules.caps_of(tenant.promise_max_days, tenant.promise_min_share_pct)
    return CollectionsSettings(caps.max_days, caps.min_share_pct)


async def tenant_of(session: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("business not found")
    return tenant


async def change_settings(
    session: AsyncSession, tenant_id: int, settings: CollectionsSettings, *, by: Actor
) -> Tenant:
    """Replace the business's caps on promises, audited with the settings before and after."""
    tenant = await tenant_of(session, tenant_id)
    before = asdict(settings_of(tenant))
    tenant.promise_max_days = settings.promise_max_days
    tenant.promise_min_share_pct = settings.promise_min_share_pct
    record(session, tenant_id=tenant.id, actor=by, action="tenant.collections_settings",
           target=Target("tenant", tenant.id),
           details={"before": before, "after": asdict(settings_of(tenant))})  # fmt: skip
    return tenant

