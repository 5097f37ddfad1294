"""Recurring collection: due invoices charged once from active mandates, on SQLite and
PostgreSQL, against the sandbox provider."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from billing_bridge.collection import rules
from billing_bridge.collection.job import UnknownTenant, run_collection
from billing_bridge.collection.rules import Action, LastAttempt
from billing_bridge.payments.port import ProviderUnavailable
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.database import Database
from pbx.db.models import AuditEntry, CollectionAttempt, CollectionRun, Payment
from tests.billing.collection_support import (
    Business,
    Clock,
    DiesAfter,
    business,
    collections,
    debtor,
    sandbox,
    settle_all,
)

TODAY = date(2027, 3, 1)
EARLIER = TODAY - timedelta(days=10)


async def attempts(database: Database, owner: Business, invoice: str) -> list[tuple]:
    async with database.tenant_session(owner.tenant_id) as session:
        rows = await session.execute(
            select(CollectionAttempt.attempt, CollectionAttempt.status,
                   CollectionAttempt.failure_code, CollectionAttempt.next_retry_on)
            .where(CollectionAttempt.invoice_id == owner.invoices[invoice])
            .order_by(CollectionAttempt.attempt)
        )  # fmt: skip
        return [tuple(row) for row in rows]


# -- the rules (pure) --------------------------------------------------------------------------


def test_a_refusal_for_lack_of_funds_is_retried_three_then_five_days_later() -> None:
    assert rules.retry_on(1, "insufficient_funds", TODAY) == TODAY + timedelta(days=3)
    assert rules.retry_on(2, "insufficient_funds", TODAY) == TODAY + timedelta(days=5)
    assert rules.retry_on(3, "insufficient_funds", TODAY) is None


def test_a_refusal_naming_a_gone_mandate_or_an_unknown_reason_is_final() -> None:
    assert rules.retry_on(1, "mandate_not_active", TODAY) is None
    assert rules.retry_on(1, "card_declined", TODAY) is None
    assert rules.retry_on(1, rules.PROVIDER_ERROR, TODAY) is None


def test_a_new_active_mandate_is_charged_after_the_old_one_was_refused_as_gone() -> None:
    gone = LastAttempt(1, mandate_id=7, outcome="failed", failure_code="mandate_not_active",
                       failed_on=TODAY)  # fmt: skip
    same = rules.decide(gone, active_mandate_id=7, mandate_status="active", today=TODAY)
    new = rules.decide(gone, active_mandate_id=8, mandate_status="active", today=TODAY)
    assert same.action is Action.SKIP and same.reason == "final_mandate_not_active"
    assert (new.action, new.attempt) == (Action.CHARGE, 2)


def test_an_unanswered_attempt_is_sent_again_under_its_own_key() -> None:
    unanswered = LastAttempt(2, 7, "pending", None, None)
    decision = rules.decide(unanswered, active_mandate_id=None, mandate_status="cancelled",
                            today=TODAY)  # fmt: skip
    assert (decision.action, decision.attempt) == (Action.RESEND, 2)
    assert rules.idempotency_key(41, 2) == rules.idempotency_key(41, 2) == "collect:41:2"


# -- runs against a database -------------------------------------------------------------------


async def test_running_twice_charges_each_due_invoice_once(database: Database) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    for n in range(5):
        await debtor(database, provider, owner, f"c{n}", [{"amount_minor": 1000 + n,
                                                           "due_on": EARLIER}])  # fmt: skip

    first = await run_collection(database, provider, today=TODAY, batch=2)
    second = await run_collection(database, provider, today=TODAY, batch=2)

    assert len(collections(provider)) == 5
    assert first.tenants["ofek"].collected.count == 5
    assert second.tenants["ofek"].collected.count == 0
    assert second.tenants["ofek"].in_flight == 5
    async with database.tenant_session(owner.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 5
        statuses = await session.scalars(select(CollectionAttempt.status))
        assert set(statuses) == {"submitted"}


async def test_only_open_invoices_due_by_the_run_date_with_a_mandate_are_collected(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    await debtor(database, provider, owner, "due", [{"amount_minor": 500, "due_on": TODAY}])
    tomorrow = TODAY + timedelta(days=1)
    await debtor(database, provider, owner, "later", [{"amount_minor": 500, "due_on": tomorrow}])
    await debtor(database, provider, owner, "paid", [{"amount_minor": 500, "due_on": EARLIER,
                                                      "status": "paid"}])  # fmt: skip
    await debtor(database, provider, owner, "nomandate",
                 [{"amount_minor": 500, "due_on": EARLIER}], mandate=None)  # fmt: skip

    report = await run_collection(database, provider, today=TODAY)

    assert report.tenants["ofek"].collected.count == 1
    assert [a[:2] for a in await attempts(database, owner, "due-0")] == [(1, "submitted")]
    assert report.tenants["ofek"].skipped.count == 0


@pytest.mark.parametrize("death", [RuntimeError("killed"), asyncio.CancelledError()])
async def test_a_run_killed_half_way_is_finished_by_the_next_without_charging_twice(
    database: Database, death: BaseException
) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    for n in range(9):
        await debtor(database, provider, owner, f"c{n}", [{"amount_minor": 2000 + n,
                                                           "due_on": EARLIER}])  # fmt: skip

    with pytest.raises(type(death)):
        await run_collection(database, DiesAfter(provider, 4, death), today=TODAY, batch=3)
    charged_before = len(collections(provider))
    report = await run_collection(database, provider, today=TODAY, batch=3)

    assert 4 < charged_before < 9  # the provider had charged some it never answered
    assert len(collections(provider)) == 9
    async with database.tenant_session(owner.tenant_id) as session:
        keys = list(await session.scalars(select(Payment.idempotency_key)))
        assert sorted(keys) == sorted(set(keys)) and len(keys) == 9
        assert set(await session.scalars(select(CollectionAttempt.status))) == {"submitted"}
        assert set(await session.scalars(select(CollectionAttempt.attempt))) == {1}
    assert report.tenants["ofek"].collected.count + report.tenants["ofek"].in_flight == 9


async def test_a_refused_collection_is_retried_on_its_day_not_before_and_stops_after_three(
    database: Database,
) -> None:
    clock = Clock()
    provider = sandbox(clock)
    owner = await business(database, "ofek", "+4930555010")
    # An amount ending in 13 minor units settles as insufficient_funds at the sandbox.
    await debtor(database, provider, owner, "poor", [{"amount_minor": 4513, "due_on": EARLIER}])

    day = TODAY
    for number, wait in ((1, 3), (2, 5), (3, None)):
        clock.on(day)
        report = await run_collection(database, provider, today=day)
        assert report.tenants["ofek"].collected.count == 1
        assert await settle_all(database, provider, owner.tenant_id) == 1
        if wait is None:
            break
        before = day + timedelta(days=wait - 1)
        early = await run_collection(database, provider, today=before)
        assert early.tenants["ofek"].collected.count == 0
        assert early.tenants["ofek"].waiting == 1
        assert (number, "failed", "insufficient_funds", day + timedelta(days=wait)) == (
            (await attempts(database, owner, "poor-0"))[-1]
        )
        day += timedelta(days=wait)

    last = await run_collection(database, provider, today=day + timedelta(days=30))
    assert last.tenants["ofek"].collected.count == 0
    assert dict(last.tenants["ofek"].skipped.reasons) == {"attempts_exhausted": 1}
    assert len(collections(provider)) == 3
    assert [a[:3] for a in await attempts(database, owner, "poor-0")] == [
        (1, "failed", "insufficient_funds"),
        (2, "failed", "insufficient_funds"),
        (3, "failed", "insufficient_funds"),
    ]


async def test_an_invoice_whose_mandate_was_cancelled_is_skipped_and_reported(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    await debtor(database, provider, owner, "gone", [{"amount_minor": 7000, "due_on": EARLIER}],
                 mandate="cancelled")  # fmt: skip
    await debtor(database, provider, owner, "ok", [{"amount_minor": 3000, "due_on": EARLIER}])

    report = await run_collection(database, provider, today=TODAY)

    skipped = report.tenants["ofek"].skipped
    assert (skipped.count, dict(skipped.amounts), dict(skipped.reasons)) == (
        1, {"EUR": 7000}, {"mandate_cancelled": 1},
    )  # fmt: skip
    assert await attempts(database, owner, "gone-0") == []
    assert len(collections(provider)) == 1
    assert any("skipped: 1 (70.00 EUR) [mandate_cancelled 1]" in line
               for line in report.summary_lines())  # fmt: skip


async def test_a_provider_that_is_down_leaves_the_attempt_to_be_sent_again_next_run(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    await debtor(database, provider, owner, "c", [{"amount_minor": 1200, "due_on": EARLIER}])
    down = DiesAfter(provider, 0, ProviderUnavailable("503"))

    outage = await run_collection(database, down, today=TODAY)
    after = await run_collection(database, provider, today=TODAY + timedelta(days=1))

    assert outage.tenants["ofek"].unanswered == 1
    assert after.tenants["ofek"].collected.count == 1
    assert len(collections(provider)) == 1
    assert await attempts(database, owner, "c-0") == [(1, "submitted", None, None)]


async def test_the_report_sums_per_currency_and_each_run_is_audited_once_per_business(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    owner = await business(database, "ofek", "+4930555010")
    two = [{"amount_minor": 1050, "due_on": EARLIER}, {"amount_minor": 2025, "due_on": TODAY}]
    await debtor(database, provider, owner, "a", two)
    await debtor(database, provider, owner, "b", [{"amount_minor": 300, "due_on": EARLIER}])

    report = await run_collection(database, provider, today=TODAY, batch=2)

    collected = report.tenants["ofek"].collected
    assert (collected.count, dict(collected.amounts)) == (3, {"EUR": 3375})
    assert "collected: 3 (33.75 EUR)" in report.summary_lines()[2]
    async with database.tenant_session(owner.tenant_id) as session:
        entries = list(await session.scalars(select(AuditEntry)))
    assert [(e.action, e.target_id) for e in entries] == [("collection.run", str(report.run_id))]
    assert entries[0].details["collected"] == {"count": 3, "amounts": {"EUR": 3375},
                                               "reasons": {}}  # fmt: skip
    async with database.system_session() as session:
        run = await session.get(CollectionRun, report.run_id)
    assert run is not None and run.finished_at is not None
    assert run.totals["collected"]["count"] == 3


async def test_each_business_is_collected_apart_and_one_can_be_run_alone(
    database: Database,
) -> None:
    provider = sandbox(Clock())
    ofek = await business(database, "ofek", "+4930555010")
    saule = await business(database, "saule", "+4930555020")
    await debtor(database, provider, ofek, "c", [{"amount_minor": 1100, "due_on": EARLIER}])
    await debtor(database, provider, saule, "c", [{"amount_minor": 2200, "due_on": EARLIER}])

    alone = await run_collection(database, provider, today=TODAY, tenant="saule")
    both = await run_collection(database, provider, today=TODAY)

    assert list(alone.tenants) == ["saule"]
    assert dict(alone.tenants["saule"].collected.amounts) == {"EUR": 2200}
    assert dict(both.tenants["ofek"].collected.amounts) == {"EUR": 1100}
    assert both.tenants["saule"].in_flight == 1
    for owner, amount in ((ofek, 1100), (saule, 2200)):
        async with database.tenant_session(owner.tenant_id) as session:
            assert list(await session.scalars(select(Payment.amount_minor))) == [amount]
            entries = await session.scalars(select(AuditEntry.action))
            assert len(list(entries)) == (2 if owner is saule else 1)
    with pytest.raises(UnknownTenant):
        await run_collection(database, provider, today=TODAY, tenant="nobody")


async def test_a_sandbox_that_remembers_two_collections_forgets_the_oldest() -> None:
    provider = SandboxProvider(webhook_secret="collection-tests", clock=Clock(), remember=2)
    request = {"amount_minor": 1000, "currency": "EUR", "description": "d"}
    refs = [
        (await provider.charge_mandate("sbx_md_x", idempotency_key=f"k{n}", **request)).provider_ref
        for n in range(3)
    ]

    assert collections(provider) == refs[1:]  # the oldest is forgotten
    again = await provider.charge_mandate("sbx_md_x", idempotency_key="k0", **request)
    assert again.provider_ref == refs[0]  # made again under the same reference
    assert collections(provider) == [refs[2], refs[0]]
