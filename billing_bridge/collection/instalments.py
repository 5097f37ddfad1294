"""Payment plans' instalments charged by the recurring run from the plan's mandate or card on
file (docs/collections.md, "Instalment collection").

An instalment is charged on its due date (the business's today), for what it still owes, under
`rules.instalment_key` (`plan<id>-inst<n>`, a retry `-try<k>`). The intent is the payment row
itself, written pending with no provider reference and committed before the provider is
called (a key another run wrote first is that run's to send); the answer fills it in, in its
own transaction, through the ledger like any collection charge, so a charge that succeeds
keeps its instalment in that transaction (`settlement.payment_arrived`). A run killed between
the call and the answer leaves the intent, and the next run sends it again under the same
key: the provider answers what it answered before. A refused debit is retried by
`rules.retry_on`; when no attempt is left, the instalment is broken (`plan.instalment_failed`).
While a charge is unanswered, with the provider, or waiting for its retry, the instalment is
the run's: the due-date sweep leaves it alone (`collecting`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.collection import rules
from billing_bridge.collection.report import TenantReport
from billing_bridge.collection.rules import Action, Decision, LastAttempt
from billing_bridge.collections.plans import instalments_of
from billing_bridge.collections.settlement import fail_instalment
from billing_bridge.events import changes
from billing_bridge.payments.ledger import post_account_entry
from billing_bridge.payments.port import (
    ChargeResult,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
)
from pbx.db.database import Database
from pbx.db.models import Account, Mandate, Payment, PaymentPlan, PlanInstalment

METHODS = ("mandate", "card_on_file")  # the plans the run collects (pay_link: the customer)
PAGE = 500


@dataclass(frozen=True, slots=True)
class Charge:
    """One request to the provider: its intent's payment row, sent (again) as it was written."""

    payment_id: int
    account_id: int
    plan_id: int
    attempt: int
    key: str
    mandate_ref: str | None
    amount_minor: int
    currency: str


def last_attempt(
    plan: PaymentPlan, number: int, payments: dict[str, Payment]
) -> tuple[LastAttempt | None, Payment | None]:
    """The instalment's latest charge as `rules.decide` reads it, and its payment row."""
    for attempt in range(rules.MAX_ATTEMPTS, 0, -1):
        payment = payments.get(rules.instalment_key(plan.id, number, attempt))
        if payment is None:
            continue
        if payment.status == "pending":
            outcome = "pending" if payment.provider_ref is None else "submitted"
        elif payment.status in ("failed", "cancelled"):
            outcome = "failed"
        else:
            outcome = "succeeded"
        moment = payment.status_at or payment.created_at
        failed_on = moment.date() if outcome == "failed" else None
        last = LastAttempt(attempt, plan.mandate_id or 0, outcome, payment.failure_reason,
                           failed_on)  # fmt: skip
        return last, payment
    return None, None


async def _payments_of(
    session: AsyncSession, plans: Sequence[PaymentPlan], instalments: Sequence[PlanInstalment]
) -> dict[str, Payment]:
    by_id = {plan.id: plan for plan in plans}
    keys = [rules.instalment_key(i.plan_id, i.number, attempt) for i in instalments
            if i.plan_id in by_id for attempt in range(1, rules.MAX_ATTEMPTS + 1)]  # fmt: skip
    if not keys:
        return {}
    rows = await session.scalars(select(Payment).where(Payment.idempotency_key.in_(keys)))
    return {payment.idempotency_key: payment for payment in rows.all()}


async def _mandate_status(
    session: AsyncSession, plan: PaymentPlan
) -> tuple[str | None, str | None]:
    """The plan's mandate's status and the provider's reference of it."""
    row = (await session.execute(
        select(Mandate.status, Mandate.provider_ref).where(Mandate.id == plan.mandate_id)
    )).one_or_none()  # fmt: skip
    return (row.status, row.provider_ref) if row else (None, None)


def _decide(
    last: LastAttempt | None, plan: PaymentPlan, status: str | None, today: date
) -> Decision:
    active = plan.mandate_id if status == "active" else None
    return rules.decide(last, active_mandate_id=active, mandate_status=status, today=today)


async def collecting(
    session: AsyncSession, plan: PaymentPlan, instalments: Sequence[PlanInstalment], today: date
) -> set[int]:
    """Ids of the plan's pending instalments the run still owns: a charge unanswered, with
    the provider, or failed with a retry left on a mandate that is still active. The sweep
    does not break these; the run decides them."""
    if plan.method not in METHODS or plan.mandate_id is None:
        return set()
    pending = [i for i in instalments if i.status == "pending"]
    payments = await _payments_of(session, [plan], pending)
    if not payments:
        return set()
    status, _ = await _mandate_status(session, plan)
    owned = set()
    for instalment in pending:
        last, _ = last_attempt(plan, instalment.number, payments)
        if last is not None and _decide(last, plan, status, today).action is not Action.SKIP:
            owned.add(instalment.id)
    return owned


async def retrying(session: AsyncSession, account_ids: Sequence[int], today: date) -> set[int]:
    """Of these accounts, those with a plan whose refused instalment charge the run tries
    again today (`rules.retry_on` of the refusal is today: the retry not made yet, or made
    and unanswered), on a mandate still active. Four statements, whatever the accounts."""
    if not account_ids:
        return set()
    plans = (await session.scalars(
        select(PaymentPlan).where(PaymentPlan.account_id.in_(list(account_ids)),
                                  PaymentPlan.status == "active",
                                  PaymentPlan.method.in_(METHODS))
    )).all()  # fmt: skip
    if not plans:
        return set()
    pending = (await session.scalars(
        select(PlanInstalment).where(PlanInstalment.plan_id.in_([p.id for p in plans]),
                                     PlanInstalment.status == "pending")
    )).all()  # fmt: skip
    payments = await _payments_of(session, plans, pending)
    active = set((await session.scalars(
        select(Mandate.id).where(Mandate.id.in_([p.mandate_id for p in plans]),
                                 Mandate.status == "active")
    )).all())  # fmt: skip
    by_plan = {plan.id: plan for plan in plans}
    accounts = set()
    for instalment in pending:
        plan = by_plan[instalment.plan_id]
        last, payment = last_attempt(plan, instalment.number, payments)
        if last is None or plan.mandate_id not in active:
            continue
        refused = last.number
        if last.outcome != "failed":  # a retry made: its day is the refusal before it's
            refused -= 1
            payment = payments.get(rules.instalment_key(plan.id, instalment.number, refused))
        if payment is None or payment.status not in ("failed", "cancelled"):
            continue
        failed_on = (payment.status_at or payment.created_at).date()
        if rules.retry_on(refused, payment.failure_reason, failed_on) == today:
            accounts.add(plan.account_id)
    return accounts


async def collect(
    database: Database,
    provider: PaymentProvider,
    tenant_id: int,
    run_on: date,
    clock: Callable[[], datetime],
    tally: TenantReport,
    *,
    concurrency: int,
) -> None:
    """The business's instalments due by `run_on` (its today), a page at a time: claimed,
    charged, answered."""
    after: int | None = 0
    gate = asyncio.Semaphore(concurrency)

    async def send(charge: Charge) -> tuple[ChargeResult | None, str | None]:
        async with gate:
            return await _send(provider, charge)

    while after is not None:
        charges, after = await _claim(database, tenant_id, provider.name, run_on, clock(), tally,
                                      after)  # fmt: skip
        answers = await asyncio.gather(*(send(charge) for charge in charges))
        # Written one at a time: each is its own short transaction (SQLite has one writer).
        for charge, (result, code) in zip(charges, answers, strict=True):
            if result is None:
                tally.unanswered += 1  # the intent stays: the next run sends it again
                continue
            if not await _answer(database, tenant_id, charge, result, code, clock()):
                tally.in_flight += 1  # another run sent it too and wrote its answer first
            elif result.status is PaymentStatus.FAILED:
                tally.failed.add(charge.amount_minor, charge.currency, code or "failed")
            else:
                tally.collected.add(charge.amount_minor, charge.currency)


async def _claim(
    database: Database, tenant_id: int, provider: str, run_on: date, now: datetime,
    tally: TenantReport, after: int,
) -> tuple[list[Charge], int | None]:  # fmt: skip
    """One page of active plans with an instalment due: each decided, the new charges'
    intents written and committed. The next page's start (None: the last page)."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        plan_ids = (await session.scalars(
            select(PlanInstalment.plan_id)
            .join(PaymentPlan, PaymentPlan.id == PlanInstalment.plan_id)
            .where(PlanInstalment.status == "pending", PlanInstalment.due_on <= run_on,
                   PlanInstalment.plan_id > after, PaymentPlan.status == "active",
                   PaymentPlan.method.in_(METHODS))
            .group_by(PlanInstalment.plan_id).order_by(PlanInstalment.plan_id).limit(PAGE)
        )).all()  # fmt: skip
        charges: list[Charge] = []
        for plan_id in plan_ids:
            # The plan's row, then its instalments: the order the sweep and payments lock in.
            plan = await session.scalar(
                select(PaymentPlan).where(PaymentPlan.id == plan_id).with_for_update()
                .execution_options(populate_existing=True)
            )  # fmt: skip
            if plan is None or plan.status != "active":
                continue
            instalments = await instalments_of(session, plan.id)
            due = [i for i in instalments if i.status == "pending" and i.due_on <= run_on]
            payments = await _payments_of(session, [plan], due)
            status, mandate_ref = await _mandate_status(session, plan)
            for instalment in due:
                charge = await _decide_one(session, database.dialect, provider, plan, instalments,
                                           instalment, payments, status, mandate_ref, run_on,
                                           now, tally)  # fmt: skip
                if charge is not None:
                    charges.append(charge)
    return charges, (plan_ids[-1] if len(plan_ids) == PAGE else None)


async def _decide_one(
    session: AsyncSession, dialect: str, provider: str, plan: PaymentPlan,
    instalments: list[PlanInstalment], instalment: PlanInstalment,
    payments: dict[str, Payment], status: str | None, mandate_ref: str | None, run_on: date,
    now: datetime, tally: TenantReport,
) -> Charge | None:  # fmt: skip
    last, payment = last_attempt(plan, instalment.number, payments)
    owed = instalment.amount_minor - instalment.paid_minor
    if last is None and instalment.due_on != run_on:
        return None  # never charged on its date: the sweep breaks it, as any unpaid one
    decision = _decide(last, plan, status, run_on)
    if decision.action is Action.RESEND and payment is not None:
        return Charge(payment.id, plan.account_id, plan.id, decision.attempt,
                      payment.idempotency_key, mandate_ref, payment.amount_minor,
                      payment.currency)  # fmt: skip
    if decision.action is Action.CHARGE:
        key = rules.instalment_key(plan.id, instalment.number, decision.attempt)
        payment_id = await _intent(session, dialect, provider, plan, key, owed, now)
        if payment_id is None:
            return None  # another run wrote it first: that run sends it
        return Charge(payment_id, plan.account_id, plan.id, decision.attempt, key, mandate_ref,
                      owed, plan.currency)  # fmt: skip
    if decision.action is Action.IN_FLIGHT:
        tally.in_flight += 1
    elif decision.action is Action.WAIT:
        tally.waiting += 1
    elif decision.action is Action.SKIP:
        tally.skipped.add(owed, plan.currency, decision.reason)
        if last is not None:  # charged and refused for good, or its mandate gone since
            await fail_instalment(session, plan, instalments, instalment, now)
    return None


async def _intent(
    session: AsyncSession, dialect: str, provider: str, plan: PaymentPlan, key: str,
    amount_minor: int, now: datetime,
) -> int | None:  # fmt: skip
    """The charge's payment row, pending with no provider reference until it is answered;
    its id, or None if the key was written already."""
    scheme = await session.scalar(select(Mandate.scheme).where(Mandate.id == plan.mandate_id))
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(Payment).on_conflict_do_nothing().returning(Payment.id)
    return await session.scalar(statement, {
        "tenant_id": plan.tenant_id, "account_id": plan.account_id, "amount_minor": amount_minor,
        "currency": plan.currency, "method": "card" if scheme == "card" else "direct_debit",
        "provider": provider, "provider_ref": None, "idempotency_key": key, "status": "pending",
        "created_at": now, "refunded_minor": 0,
    })  # fmt: skip


async def _send(
    provider: PaymentProvider, charge: Charge
) -> tuple[ChargeResult | None, str | None]:
    if charge.mandate_ref is None:
        return ChargeResult(PaymentStatus.FAILED, "", rules.PROVIDER_ERROR), rules.PROVIDER_ERROR
    try:
        result = await provider.charge_mandate(
            charge.mandate_ref, amount_minor=charge.amount_minor, currency=charge.currency,
            idempotency_key=charge.key, description=f"Ledgerline {charge.key}",
        )  # fmt: skip
    except ProviderUnavailable:
        return None, "provider_unavailable"
    except ProviderError:
        return ChargeResult(PaymentStatus.FAILED, "", rules.PROVIDER_ERROR), rules.PROVIDER_ERROR
    return result, result.failure_code


async def _answer(
    database: Database, tenant_id: int, charge: Charge, result: ChargeResult, code: str | None,
    now: datetime,
) -> bool:  # fmt: skip
    """The provider's answer on the intent, in one transaction with what it moves: a charge
    that succeeded at once (a card on file) lowers the balance and pays its instalment; one
    refused with no retry left breaks the instalment. False: it was answered already."""
    async with database.tenant_session(tenant_id) as session, session.begin():
        # The account's row first, then the plan's: the order every payment locks them in.
        await session.execute(
            select(Account.id).where(Account.id == charge.account_id).with_for_update()
        )
        settled = result.status is not PaymentStatus.PENDING
        # Compare and set: only the intent still unanswered takes the answer (SQLite takes no
        # row locks; its one writer and PostgreSQL's re-checked WHERE both make this atomic).
        answered = await session.execute(
            update(Payment)
            .where(Payment.id == charge.payment_id, Payment.status == "pending",
                   Payment.provider_ref.is_(None))
            .values(status=result.status.value, provider_ref=result.provider_ref or None,
                    failure_reason=code, card_brand=result.card_brand,
                    card_last4=result.card_last4,
                    status_at=now if settled else None)  # a pending debit's: its webhook's
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if answered.rowcount != 1:
            return False  # answered already (a concurrent run sent it again)
        payment = await session.scalar(
            select(Payment).where(Payment.id == charge.payment_id)
            .execution_options(populate_existing=True)
        )  # fmt: skip
        assert payment is not None
        entry = None
        if result.status is PaymentStatus.SUCCEEDED:
            entry = await post_account_entry(
                session, tenant_id, account_id=payment.account_id, kind="payment",
                amount_minor=-payment.amount_minor, currency=payment.currency,
                payment_id=payment.id,
            )  # fmt: skip
        if settled:
            await changes.payment_moved(session, payment, entry_id=entry.id if entry else None)
        last_try = rules.retry_on(charge.attempt, code, now.date()) is None
        if result.status is PaymentStatus.FAILED and last_try:
            await _give_up(session, charge, now)
    return True


async def _give_up(session: AsyncSession, charge: Charge, now: datetime) -> None:
    plan = await session.scalar(
        select(PaymentPlan).where(PaymentPlan.id == charge.plan_id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    parsed = rules.instalment_of_key(charge.key)
    if plan is None or plan.status != "active" or parsed is None:
        return
    instalments = await instalments_of(session, plan.id)
    for instalment in instalments:
        if instalment.number == parsed[1] and instalment.status == "pending":
            await fail_instalment(session, plan, instalments, instalment, now)

