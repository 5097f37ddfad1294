"""A business's money settings: identity before money, credit limits by role over a period,
a per-account total, whether a credit may take a balance below zero, and how long the
billing system has to acknowledge a change before reconciliation flags it. Changed by an
admin, audited with the settings before and after."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.credits import CreditNotFound
from pbx.audit import Actor, Target, record
from pbx.db.models import CREDIT_PERIODS, Tenant

DEFAULT_ACK_HOURS = 48  # the column's default


class BusinessGone(CreditNotFound):
    """The business was removed while one of its users was signed in."""

    def __init__(self) -> None:
        super().__init__("tenant not found")


@dataclass(frozen=True)
class MoneySettings:
    money_needs_verification: bool
    credit_limits: dict[str, int] = field(default_factory=dict)  # role -> minor units
    credit_period: str = "month"  # day, week or month in the business's time zone
    credit_account_limit_minor: int | None = None  # None: no per-account total
    credits_below_zero: bool = False
    # Hours the billing system has to acknowledge a change (1..720); None in a change: kept.
    billing_ack_hours: int | None = DEFAULT_ACK_HOURS


async def business(session: AsyncSession, tenant_id: int) -> Tenant:
    """The signed-in user's business, which may have been removed since they signed in."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise BusinessGone()
    return tenant


def settings_of(tenant: Tenant) -> MoneySettings:
    # An unknown period in a hand-edited row reads as the rules read it: the longest.
    period = tenant.credit_period if tenant.credit_period in CREDIT_PERIODS else CREDIT_PERIODS[-1]
    return MoneySettings(tenant.money_needs_verification, dict(tenant.credit_limits or {}),
                         period, tenant.credit_account_limit_minor,
                         tenant.credits_below_zero,
                         tenant.billing_ack_hours or DEFAULT_ACK_HOURS)  # fmt: skip


async def change_settings(
    session: AsyncSession, tenant_id: int, settings: MoneySettings, *, by: Actor
) -> Tenant:
    """Replace the business's money settings, audited in the session's transaction."""
    tenant = await business(session, tenant_id)
    before = asdict(settings_of(tenant))
    tenant.money_needs_verification = settings.money_needs_verification
    tenant.credit_limits = dict(settings.credit_limits)
    tenant.credit_period = settings.credit_period
    tenant.credit_account_limit_minor = settings.credit_account_limit_minor
    tenant.credits_below_zero = settings.credits_below_zero
    if settings.billing_ack_hours is not None:
        tenant.billing_ack_hours = settings.billing_ack_hours
    record(session, tenant_id=tenant.id, actor=by, action="tenant.money_settings",
           target=Target("tenant", tenant.id),
           details={"before": before, "after": asdict(settings_of(tenant))})  # fmt: skip
    return tenant
