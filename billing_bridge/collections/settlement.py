"""Payments keep or break promises and instalments, as they arrive.

`payment_arrived` is called by every path that lowers a balance by a payment (a card in a
call, a provider's webhook settling a link or a debit, a collection charge, the billing
system's external payment), in the transaction of the payment's ledger entry, so the
decision commits or rolls back with the money. The rules (docs/collections.md):

- The payment's time (`paid_at`: when the provider or the billing system says it was paid,
  else now) is judged against the end of each date in the business's time zone.
- An open promise paid in time takes what it still needs; paid in full, it is kept. A
  promise whose date had passed when the payment came (the sweep had not run yet) is broken
  first, as the sweep would have broken it.
- A broken promise stays broken: money arriving after it counts towards the account (and
  is recorded on the promise as paid late, when no plan is active).
- An active plan's pending instalments take the money in date order (an instalment due
  before the payment's date is broken first); each paid in full is kept. What is left pays
  broken instalments' shortfall, late (they stay broken). The plan is completed when what
  was paid towards it reaches its total.
- A collection charge of an instalment (`collection.instalments`: its key names the plan and
  the instalment) pays that instalment first and in time, whenever its money arrives: a
  debit charged on the date settles days later, a retry after it. An instalment's pay link
  (`reminders.instalment_links`) pays that instalment first too, in time if paid by the end
  of its date, else its shortfall, late.
- Money beyond what the promise or plan needs only lowers the balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collection.rules import instalment_of_key, instalment_of_link_key
from billing_bridge.collections import access, rules
from billing_bridge.collections.events import plan_event, promise_event
from billing_bridge.collections.plans import instalments_of
from pbx.audit import By, Target, record
from pbx.db.models import (
    AccountEntry,
    Payment,
    PaymentPlan,
    PlanInstalment,
    Promise,
    PromiseSettlement,
)
from pbx.db.types import utcnow

ACTOR = By("collections")


async def payment_arrived(
    session: AsyncSession, tenant_id: int, account_id: int, amount_minor: int, currency: str,
    *, paid_at: datetime | None = None, entry_id: int | None = None,
) -> None:  # fmt: skip
    """`amount_minor` (positive) was paid into the account: settle what it keeps or breaks,
    in the caller's transaction (which holds the account's row, as its entry's update does)."""
    if amount_minor <= 0:
        return
    promises = (await session.scalars(
        select(Promise).where(Promise.account_id == account_id, Promise.currency == currency,
                              Promise.status.in_(("open", "broken")))
        .order_by(Promise.id.desc()).limit(2).with_for_update()
    )).all()  # fmt: skip
    plan = await session.scalar(
        select(PaymentPlan).where(PaymentPlan.account_id == account_id,
                                  PaymentPlan.currency == currency,
                                  PaymentPlan.status == "active").with_for_update()
    )  # fmt: skip
    if not promises and plan is None:
        return  # the usual payment: nothing promised
    now = utcnow()
    paid = Paid(session, tenant_id, account_id, entry_id, paid_at or now, now,
                (await access.business(session, tenant_id)).zone)  # fmt: skip
    left = amount_minor
    open_one = next((p for p in promises if p.status == "open"), None)
    if open_one is not None:
        left = await paid.towards_promise(open_one, left)
    if plan is not None:
        left = await paid.towards_plan(plan, left, await _own(session, entry_id, plan.id))
    elif left > 0:
        broken = [p for p in promises if p.status == "broken"]
        if broken:
            await paid.late_to_promise(broken[0], left)


@dataclass(frozen=True, slots=True)
class Own:
    """The plan's instalment a payment is for: its collection charge (`charged`: paid in time
    whenever its money arrives) or its pay link (in time if paid by the end of its date)."""

    number: int
    charged: bool


async def _own(session: AsyncSession, entry_id: int | None, plan_id: int) -> Own | None:
    """The plan's instalment whose collection charge or pay link the entry's payment is."""
    if entry_id is None:
        return None
    key = await session.scalar(
        select(Payment.idempotency_key).join(AccountEntry, AccountEntry.payment_id == Payment.id)
        .where(AccountEntry.id == entry_id)
    )  # fmt: skip
    if not key:
        return None
    if (charged := instalment_of_key(key)) is not None and charged[0] == plan_id:
        return Own(charged[1], charged=True)
    if (linked := instalment_of_link_key(key)) is not None and linked[0] == plan_id:
        return Own(linked[1], charged=False)
    return None


class Paid:
    """One payment's settlement: where it is applied, each application a row."""

    def __init__(
        self, session: AsyncSession, tenant_id: int, account_id: int, entry_id: int | None,
        paid_at: datetime, now: datetime, zone: ZoneInfo,
    ) -> None:  # fmt: skip
        self.session, self.tenant_id, self.account_id = session, tenant_id, account_id
        self.entry_id, self.paid_at, self.now, self.zone = entry_id, paid_at, now, zone

    def _settle(self, amount: int, *, late: bool, promise_id: int | None = None,
                instalment_id: int | None = None) -> None:  # fmt: skip
        self.session.add(PromiseSettlement(
            tenant_id=self.tenant_id, account_id=self.account_id, promise_id=promise_id,
            instalment_id=instalment_id, entry_id=self.entry_id, amount_minor=amount,
            paid_at=self.paid_at, late=late, created_at=self.now,
        ))  # fmt: skip

    async def towards_promise(self, promise: Promise, left: int) -> int:
        if rules.is_late(promise.due_on, self.paid_at, self.zone):
            await break_promise(self.session, promise, self.now, why="paid after its date")
            return left
        applied = min(left, promise.amount_minor - promise.paid_minor)
        if applied <= 0:
            return left
        promise.paid_minor += applied
        self._settle(applied, late=False, promise_id=promise.id)
        if promise.paid_minor >= promise.amount_minor:
            promise.status, promise.decided_at = "kept", self.now
            await self.session.flush()
            self._audit("promise.kept", Target("promise", promise.id), promise.paid_minor)
            await promise_event(self.session, promise, "promise.kept")
        return left - applied

    async def late_to_promise(self, promise: Promise, left: int) -> None:
        shortfall = promise.amount_minor - promise.paid_minor - promise.late_paid_minor
        applied = min(left, shortfall)
        if applied > 0:
            promise.late_paid_minor += applied
            self._settle(applied, late=True, promise_id=promise.id)
            await self.session.flush()

    async def towards_plan(self, plan: PaymentPlan, left: int, own: Own | None = None) -> int:
        """`own`: the instalment this payment is for, which it pays first (then pending
        instalments in date order, then broken ones' shortfall)."""
        instalments = await instalments_of(self.session, plan.id)
        charged = own.number if own is not None and own.charged else None
        for instalment in instalments:
            if instalment.status == "pending" and instalment.number != charged and rules.is_late(
                instalment.due_on, self.paid_at, self.zone
            ):  # fmt: skip
                await fail_instalment(self.session, plan, instalments, instalment, self.now)
        before = left
        first = [i for i in instalments if own is not None and i.number == own.number]
        order = first + [i for status in ("pending", "broken") for i in instalments
                         if i.status == status and i not in first]  # fmt: skip
        for instalment in order:  # in time first, then what is in arrears (late)
            status = instalment.status
            if left <= 0 or status not in ("pending", "broken"):
                continue
            applied = min(left, instalment.amount_minor - instalment.paid_minor)
            if applied <= 0:
                continue
            instalment.paid_minor += applied
            left -= applied
            self._settle(applied, late=status == "broken", instalment_id=instalment.id)
            if status == "pending" and instalment.paid_minor >= instalment.amount_minor:
                instalment.status, instalment.decided_at = "kept", self.now
                await self.session.flush()
                self._audit("plan.instalment_paid", Target("plan_instalment", instalment.id),
                            instalment.paid_minor)  # fmt: skip
                await plan_event(self.session, plan, instalments, "plan.instalment_paid",
                                 instalment)  # fmt: skip
        plan.paid_minor += before - left
        if plan.paid_minor >= plan.total_minor:
            plan.status, plan.decided_at = "completed", self.now
            await self.session.flush()
            self._audit("plan.completed", Target("payment_plan", plan.id), plan.paid_minor)
            await plan_event(self.session, plan, instalments, "plan.completed")
        await self.session.flush()
        return left

    def _audit(self, action: str, target: Target, paid_minor: int) -> None:
        record(self.session, tenant_id=self.tenant_id, actor=ACTOR, action=action,
               target=target, details={"account_id": self.account_id, "entry_id": self.entry_id,
                                       "paid_at": self.paid_at.isoformat(),
                                       "paid_minor": paid_minor}, at=self.now)  # fmt: skip


async def break_promise(
    session: AsyncSession, promise: Promise, now: datetime, *, why: str
) -> None:
    """An open promise not paid in full by the end of its date: broken (audited, emitted)."""
    promise.status, promise.decided_at = "broken", now
    await session.flush()
    record(session, tenant_id=promise.tenant_id, actor=ACTOR, action="promise.broken",
           target=Target("promise", promise.id),
           details={"account_id": promise.account_id, "due_on": promise.due_on.isoformat(),
                    "amount_minor": promise.amount_minor, "paid_minor": promise.paid_minor,
                    "why": why}, at=now)  # fmt: skip
    await promise_event(session, promise, "promise.broken")


async def fail_instalment(
    session: AsyncSession, plan: PaymentPlan, instalments: list[PlanInstalment],
    instalment: PlanInstalment, now: datetime,
) -> None:  # fmt: skip
    """A pending instalment not paid in full by the end of its date: broken."""
    instalment.status, instalment.decided_at = "broken", now
    await session.flush()
    record(session, tenant_id=plan.tenant_id, actor=ACTOR, action="plan.instalment_failed",
           target=Target("plan_instalment", instalment.id),
           details={"plan_id": plan.id, "account_id": plan.account_id,
                    "due_on": instalment.due_on.isoformat(),
                    "amount_minor": instalment.amount_minor,
                    "paid_minor": instalment.paid_minor}, at=now)  # fmt: skip
    await plan_event(session, plan, instalments, "plan.instalment_failed", instalment)
