"""Payment plans' instalments charged by the recurring collection run from the plan's mandate
or card on file, on SQLite and PostgreSQL, against the sandbox provider: once per instalment
on its date in the business's time zone, retried as a refused debit is, and decided with the
due-date sweep without the two disagreeing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from billing_bridge.collection import rules
from billing_bridge.collection.job import run_collection
from billing_bridge.collections import sweep
from billing_bridge.payments.port import ChargeResult, PaymentStatus
from billing_bridge.payments.sandbox import SandboxProvider
from billing_bridge.payments.webhooks import apply_events
from pbx.db.database import Database
from pbx.db.models import (
    Account,
    AccountEntry,
    BillingEvent,
    CollectionAttempt,
    Mandate,
    Payment,
    PaymentPlan,
    PlanInstalment,
    PromiseSettlement,
)
from tests.billing.collection_support import (
    Business,
    Clock,
    DiesAfter,
    collections,
    debtor,
    sandbox,
)
from tests.factories import make_tenant

TODAY = date(2027, 3, 1)
DST_DAY = date(2027, 3, 28)  # Vilnius moves to +03:00 at 03:00 local (01:00 UTC)
ZONE = "Europe/Vilnius"


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@dataclass
class Plan:
    database: Database
    owner: Business
    id: int
    account_id: int
    statuses: dict[int, str] = field(default_factory=dict)

    async def instalments(self) -> list[tuple[int, str, int]]:
        """(number, status, paid_minor) of each instalment."""
        async with self.database.tenant_session(self.owner.tenant_id) as session:
            rows = await session.execute(
                select(PlanInstalment.number, PlanInstalment.status, PlanInstalment.paid_minor)
                .where(PlanInstalment.plan_id == self.id).order_by(PlanInstalment.number)
            )  # fmt: skip
            return [tuple(row) for row in rows]

    async def payments(self) -> list[tuple[str, int, str, str | None]]:
        """(key, amount, status, failure) of the account's payments, in order."""
        async with self.database.tenant_session(self.owner.tenant_id) as session:
            rows = await session.execute(
                select(Payment.idempotency_key, Payment.amount_minor, Payment.status,
                       Payment.failure_reason)
                .where(Payment.account_id == self.account_id).order_by(Payment.id)
            )  # fmt: skip
            return [tuple(row) for row in rows]

    async def events(self) -> list[str]:
        async with self.database.tenant_session(self.owner.tenant_id) as session:
            types = await session.scalars(select(BillingEvent.type).order_by(BillingEvent.seq))
            return [t for t in types if t.startswith("plan.")]


async def shop(database: Database) -> Business:
    """A business in Vilnius."""
    return Business(await make_tenant(database, "vilnius", "LT", "EUR", ["+37052000001"],
                                      timezone=ZONE))  # fmt: skip


async def plan_for(
    database: Database, provider: SandboxProvider, owner: Business, ref: str,
    instalments: list[tuple[date, int]], *, card: str | None = None,
) -> Plan:  # fmt: skip
    """A debtor owing the plan's total on an invoice overdue for a month, with an active SEPA
    mandate, and an active plan of those instalments paid by the mandate (or by the card on
    file `card`, a mandate of scheme card)."""
    total = sum(amount for _, amount in instalments)
    await debtor(database, provider, owner, ref,
                 [{"amount_minor": total, "due_on": TODAY - timedelta(days=30)}])  # fmt: skip
    async with database.tenant_session(owner.tenant_id) as session, session.begin():
        mandate = await session.get(Mandate, owner.mandates[ref])
        assert mandate is not None
        await session.execute(
            Account.__table__.update().where(Account.id == mandate.account_id)
            .values(balance_minor=total)
        )  # fmt: skip
        if card is not None:
            mandate = Mandate(customer_id=mandate.customer_id, account_id=mandate.account_id,
                              provider="sandbox", provider_ref=card, scheme="card",
                              status="active")  # fmt: skip
            session.add(mandate)
            await session.flush()
        plan = PaymentPlan(
            account_id=mandate.account_id, total_minor=total, currency="EUR",
            instalment_count=len(instalments), frequency="weekly",
            first_due_on=instalments[0][0], method="card_on_file" if card else "mandate",
            mandate_id=mandate.id, status="active", paid_minor=0,
            consent_at=noon(TODAY) - timedelta(days=10),
        )  # fmt: skip
        session.add(plan)
        await session.flush()
        session.add_all(
            PlanInstalment(plan_id=plan.id, number=n, due_on=due_on, amount_minor=amount,
                           paid_minor=0, status="pending")
            for n, (due_on, amount) in enumerate(instalments, start=1)
        )  # fmt: skip
        return Plan(database, owner, plan.id, mandate.account_id)


async def settle(
    database: Database, provider: SandboxProvider, clock: Clock, day: date,
    status: PaymentStatus | None = None,
) -> int:  # fmt: skip
    """The sandbox settles every pending collection on `day` (as scheduled, or as `status`);
    its webhooks are applied as the webhook route applies them (status, balance entry,
    settlement of the plan)."""
    clock.on(day)
    async with database.system_session() as session:
        refs = (await session.scalars(
            select(Payment.provider_ref)
            .where(Payment.status == "pending", Payment.provider_ref.is_not(None))
        )).all()  # fmt: skip
    for ref in refs:
        body, headers = provider.settle(ref, status)
        await apply_events(database, provider.name, provider.parse_webhook(body, headers),
                           now=clock.now)  # fmt: skip
    return len(refs)


class CardsOnFile:
    """The sandbox, and stored card tokens (`pm_...`) charged at once, as a card is."""

    def __init__(self, inner: SandboxProvider) -> None:
        self.name, self._inner, self.charged = inner.name, inner, dict[str, int]()

    async def charge_mandate(self, mandate_ref: str, **request: Any) -> ChargeResult:
        if not mandate_ref.startswith("pm_"):
            return await self._inner.charge_mandate(mandate_ref, **request)
        key = request["idempotency_key"]
        self.charged[key] = request["amount_minor"]
        return ChargeResult(PaymentStatus.SUCCEEDED, f"ch_{key}", card_last4="4242",
                            card_brand="visa")  # fmt: skip


async def test_a_due_instalment_is_charged_once_and_kept_when_its_debit_settles_days_later(
    database: Database,
) -> None:
    clock = Clock()
    provider = sandbox(clock)
    owner = await shop(database)
    plan = await plan_for(database, provider, owner, "dana",
                          [(TODAY, 5000), (TODAY + timedelta(days=7), 5000)])  # fmt: skip

    first = await run_collection(database, provider, now=noon(TODAY))
    second = await run_collection(database, provider, now=noon(TODAY) + timedelta(hours=1))

    assert len(collections(provider)) == 1  # the first instalment, once; not the balance
    key = rules.instalment_key(plan.id, 1, 1)
    assert key == f"plan{plan.id}-inst1"
    assert await plan.payments() == [(key, 5000, "pending", None)]
    assert first.tenants["vilnius"].collected.as_dict()["amounts"] == {"EUR": 5000}
    assert dict(first.tenants["vilnius"].skipped.reasons) == {"payment_plan": 1}
    assert second.tenants["vilnius"].collected.count == 0
    assert second.tenants["vilnius"].in_flight == 1
    # The debit is with the provider: the sweep after its date leaves the instalment alone.
    assert (await sweep.sweep(database, noon(TODAY + timedelta(days=2)))).instalments_failed == 0
    assert await plan.instalments() == [(1, "pending", 0), (2, "pending", 0)]

    assert await settle(database, provider, clock, TODAY + timedelta(days=2)) == 1

    assert await plan.instalments() == [(1, "kept", 5000), (2, "pending", 0)]
    assert await plan.events() == ["plan.instalment_paid"]
    async with database.tenant_session(owner.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(CollectionAttempt)) == 0
        balance = await session.scalar(
            select(Account.balance_minor).where(Account.id == plan.account_id)
        )
    assert balance == 5000


async def test_a_refused_debit_is_retried_by_the_runs_rules_then_the_instalment_fails(
    database: Database,
) -> None:
    clock = Clock()
    provider = sandbox(clock)
    owner = await shop(database)
    # An amount ending in 13 minor units settles as insufficient_funds at the sandbox.
    plan = await plan_for(database, provider, owner, "eli",
                          [(TODAY, 1013), (TODAY + timedelta(days=30), 1013)])  # fmt: skip

    day = TODAY
    for attempt, wait in ((1, 3), (2, 5), (3, None)):
        report = await run_collection(database, provider, now=noon(day))
        assert report.tenants["vilnius"].collected.count == 1
        assert await settle(database, provider, clock, day) == 1
        if wait is None:
            break
        before = day + timedelta(days=wait - 1)
        assert (await sweep.sweep(database, noon(before))).instalments_failed == 0
        early = await run_collection(database, provider, now=noon(before))
        assert (early.tenants["vilnius"].collected.count, early.tenants["vilnius"].waiting) == (
            0, 1,
        )  # fmt: skip
        assert (await plan.payments())[-1] == (
            rules.instalment_key(plan.id, 1, attempt), 1013, "failed", "insufficient_funds",
        )  # fmt: skip
        assert await plan.instalments() == [(1, "pending", 0), (2, "pending", 0)]
        day += timedelta(days=wait)

    last = await run_collection(database, provider, now=noon(day + timedelta(days=1)))
    await sweep.sweep(database, noon(day + timedelta(days=2)))

    assert dict(last.tenants["vilnius"].skipped.reasons) == {"attempts_exhausted": 1,
                                                             "payment_plan": 1}  # fmt: skip
    assert len(collections(provider)) == 3
    assert [p[0] for p in await plan.payments()] == [
        f"plan{plan.id}-inst1", f"plan{plan.id}-inst1-try2", f"plan{plan.id}-inst1-try3",
    ]  # fmt: skip
    assert await plan.instalments() == [(1, "broken", 0), (2, "pending", 0)]
    assert await plan.events() == ["plan.instalment_failed"]


async def test_a_retry_that_succeeds_after_the_date_pays_its_instalment_in_time(
    database: Database,
) -> None:
    clock = Clock()
    provider = sandbox(clock)
    owner = await shop(database)
    plan = await plan_for(database, provider, owner, "fay",
                          [(TODAY, 1013), (TODAY + timedelta(days=14), 1013)])  # fmt: skip
    await run_collection(database, provider, now=noon(TODAY))
    assert await settle(database, provider, clock, TODAY) == 1  # insufficient funds

    retry_day = TODAY + timedelta(days=3)
    await run_collection(database, provider, now=noon(retry_day))
    assert await settle(database, provider, clock, retry_day + timedelta(days=2),
                        PaymentStatus.SUCCEEDED) == 1  # fmt: skip

    assert await plan.instalments() == [(1, "kept", 1013), (2, "pending", 0)]
    assert await plan.events() == ["plan.instalment_paid"]
    async with database.tenant_session(owner.tenant_id) as session:
        late = (await session.scalars(select(PromiseSettlement.late))).all()
    assert late == [False]


async def test_a_run_killed_after_the_charge_is_answered_by_the_next_without_charging_twice(
    database: Database,
) -> None:
    clock = Clock()
    provider = sandbox(clock)
    owner = await shop(database)
    plan = await plan_for(database, provider, owner, "gil",
                          [(TODAY, 4000), (TODAY + timedelta(days=7), 4000)])  # fmt: skip

    with pytest.raises(RuntimeError):
        await run_collection(database, DiesAfter(provider, 0, RuntimeError("killed")),
                             now=noon(TODAY))  # fmt: skip
    # The intent is committed, unanswered: the sweep after its date does not break it.
    assert (await sweep.sweep(database, noon(TODAY + timedelta(days=1)))).instalments_failed == 0
    assert await plan.payments() == [(f"plan{plan.id}-inst1", 4000, "pending", None)]

    again = await run_collection(database, provider, now=noon(TODAY + timedelta(days=1)))

    assert again.tenants["vilnius"].collected.count == 1
    assert len(collections(provider)) == 1
    assert await settle(database, provider, clock, TODAY + timedelta(days=3)) == 1
    assert await plan.instalments() == [(1, "kept", 4000), (2, "pending", 0)]


async def test_a_card_on_file_instalment_is_charged_and_paid_in_the_same_transaction(
    database: Database,
) -> None:
    clock = Clock()
    cards = CardsOnFile(sandbox(clock))
    owner = await shop(database)
    plan = await plan_for(database, cards._inner, owner, "hana",
                          [(TODAY, 3334), (TODAY + timedelta(days=7), 3333)],
                          card="pm_card_visa")  # fmt: skip

    await run_collection(database, cards, now=noon(TODAY))
    await run_collection(database, cards, now=noon(TODAY) + timedelta(minutes=5))

    assert cards.charged == {f"plan{plan.id}-inst1": 3334}
    assert collections(cards._inner) == []  # the SEPA mandate: not the plan's, not charged
    assert await plan.payments() == [(f"plan{plan.id}-inst1", 3334, "succeeded", None)]
    assert await plan.instalments() == [(1, "kept", 3334), (2, "pending", 0)]
    assert await plan.events() == ["plan.instalment_paid"]
    async with database.tenant_session(owner.tenant_id) as session:
        entries = (await session.execute(
            select(AccountEntry.kind, AccountEntry.amount_minor)
            .where(AccountEntry.account_id == plan.account_id)
        )).all()  # fmt: skip
        method, last4 = (await session.execute(
            select(Payment.method, Payment.card_last4)
        )).one()  # fmt: skip
    assert [tuple(e) for e in entries] == [("payment", -3334)]
    assert (method, last4) == ("card", "4242")


async def test_an_account_with_a_plan_is_not_charged_its_balance_while_no_instalment_is_due(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    owner = await shop(database)
    plan = await plan_for(database, provider, owner, "ido",
                          [(TODAY + timedelta(days=7), 2500), (TODAY + timedelta(days=14), 2500)])
    await debtor(database, provider, owner, "other",
                 [{"amount_minor": 700, "due_on": TODAY - timedelta(days=3)}])  # fmt: skip

    report = await run_collection(database, provider, now=noon(TODAY))

    assert len(collections(provider)) == 1  # the other customer's invoice only
    assert report.tenants["vilnius"].collected.as_dict()["amounts"] == {"EUR": 700}
    assert dict(report.tenants["vilnius"].skipped.reasons) == {"payment_plan": 1}
    assert await plan.payments() == []


async def test_due_today_is_the_businesss_date_across_the_night_its_clocks_move(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    owner = await shop(database)
    plan = await plan_for(database, provider, owner, "lina",
                          [(DST_DAY, 6000), (DST_DAY + timedelta(days=7), 6000)])  # fmt: skip
    # 21:59 UTC on the 27th is 23:59 in Vilnius (+02:00): the day before.
    evening = datetime(2027, 3, 27, 21, 59, tzinfo=UTC)

    await run_collection(database, provider, now=evening)
    assert await plan.payments() == []

    # A minute later it is 00:00 on the 28th there, the night the clocks go to +03:00.
    await run_collection(database, provider, now=evening + timedelta(minutes=1))
    assert await plan.payments() == [(f"plan{plan.id}-inst1", 6000, "pending", None)]
    # The 28th is 23 hours long there: it ends at 21:00 UTC, and the run of 21:30 UTC is on
    # the 29th, when the first attempt of a never-charged instalment is no longer made.
    await run_collection(database, provider, now=datetime(2027, 3, 28, 21, 30, tzinfo=UTC))
    assert len(collections(provider)) == 1


async def test_two_runs_at_once_charge_a_due_instalment_once(database: Database) -> None:
    provider = sandbox(Clock())
    owner = await shop(database)
    plans = [
        await plan_for(database, provider, owner, f"c{n}",
                       [(TODAY, 2000 + n), (TODAY + timedelta(days=7), 2000)])
        for n in range(4)
    ]  # fmt: skip

    reports = await asyncio.gather(
        run_collection(database, provider, now=noon(TODAY)),
        run_collection(database, provider, now=noon(TODAY)),
    )

    assert len(collections(provider)) == 4
    assert sum(r.tenants["vilnius"].collected.count for r in reports) == 4
    for plan in plans:
        assert [p[2] for p in await plan.payments()] == ["pending"]
