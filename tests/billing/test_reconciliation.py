"""The daily reconciliation report: what Ledgerline collected, refunded, charged back and
credited on a business's day, acknowledged by the billing system or not, and the changes
still unacknowledged after the business's hours. The test data is written row by row (a
payment, its balance entry, the event that carries it), and every figure is recomputed here
from those rows, independently of the report's statements."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from billing_bridge.reconciliation import (
    BadDay,
    Figure,
    day_report,
    parse_day,
    unacknowledged,
    yesterday,
)
from billing_bridge.reconciliation.csv_export import figures_csv, items_csv
from pbx.db.database import Database
from pbx.db.models import Account, AccountEntry, BillingEvent, Credit, Payment, Tenant
from tests.factories import make_customer, make_tenant

ZONE = "Asia/Jerusalem"
# Israel's clocks went forward at 02:00 on Friday 27 March 2026: that day has 23 hours,
# from 2026-03-26T22:00Z (midnight at +02:00) to 2026-03-27T21:00Z (midnight at +03:00).
SPRING = date(2026, 3, 27)
DAY_START = datetime(2026, 3, 26, 22, 0, tzinfo=UTC)
DAY_END = datetime(2026, 3, 27, 21, 0, tzinfo=UTC)
NOON = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
_sequence = itertools.count(1)


@dataclass(frozen=True)
class Written:
    entry_id: int | None
    event_id: str | None
    payment_id: int | None = None
    credit_id: int | None = None


class Rows:
    """Writes a business's money rows as the application leaves them: the payment or credit,
    its balance entry, and the event that carries the entry to the billing system."""

    def __init__(self, database: Database, tenant_id: int, account_id: int) -> None:
        self.database, self.tenant_id, self.account_id = database, tenant_id, account_id

    async def payment(
        self,
        amount: int,
        at: datetime,
        *,
        method: str = "card",
        provider: str = "stripe",
        currency: str = "ILS",
        acknowledged: datetime | None = None,
        sent: bool = True,
    ) -> Written:
        async with self._session() as session, session.begin():
            payment = Payment(account_id=self.account_id, amount_minor=amount, currency=currency,
                              method=method, provider=provider, status="succeeded",
                              idempotency_key=f"key-{next(_sequence)}", created_at=at)  # fmt: skip
            session.add(payment)
            await session.flush()
            return await self._entry(session, "payment", -amount, currency, at, acknowledged,
                                     sent, payment_id=payment.id)  # fmt: skip

    async def refund(self, paid: Written, amount: int, at: datetime, *, currency: str = "ILS",
                     acknowledged: datetime | None = None) -> Written:  # fmt: skip
        async with self._session() as session, session.begin():
            return await self._entry(session, "refund", amount, currency, at, acknowledged,
                                     True, payment_id=paid.payment_id)  # fmt: skip

    async def chargeback(self, paid: Written, amount: int, at: datetime,
                         acknowledged: datetime | None = None) -> Written:  # fmt: skip
        async with self._session() as session, session.begin():
            return await self._entry(session, "chargeback", amount, "ILS", at, acknowledged,
                                     True, payment_id=paid.payment_id)  # fmt: skip

    async def credit(
        self,
        amount: int,
        at: datetime,
        *,
        approved: bool = False,
        rejected: bool = False,
        acknowledged: datetime | None = None,
    ) -> Written:
        async with self._session() as session, session.begin():
            decided = at if approved or rejected else None
            credit = Credit(account_id=self.account_id, amount_minor=amount, currency="ILS",
                            reason_code="goodwill", status="rejected" if rejected else "granted",
                            created_at=at - timedelta(hours=1) if decided else at,
                            decided_at=decided)  # fmt: skip
            session.add(credit)
            await session.flush()
            if rejected:  # told to the billing system, but nothing moved: no entry
                event = self._event("credit.rejected", at, None, acknowledged)
                session.add(event)
                return Written(None, event.public_id, credit_id=credit.id)
            return await self._entry(session, "credit", -amount, "ILS", at, acknowledged,
                                     True, credit_id=credit.id)  # fmt: skip

    async def _entry(self, session, kind, amount, currency, at, acknowledged, sent, *,  # type: ignore[no-untyped-def]
                     payment_id=None, credit_id=None) -> Written:  # fmt: skip
        entry = AccountEntry(account_id=self.account_id, kind=kind, amount_minor=amount,
                             currency=currency, balance_after_minor=0, payment_id=payment_id,
                             credit_id=credit_id, created_at=at)  # fmt: skip
        session.add(entry)
        await session.flush()
        event = None
        if sent:
            event = self._event(f"{kind}.made", at, entry.id, acknowledged)
            session.add(event)
        return Written(entry.id, event.public_id if event else None, payment_id, credit_id)

    def _event(self, type: str, at: datetime, entry_id: int | None,
               acknowledged: datetime | None) -> BillingEvent:  # fmt: skip
        number = next(_sequence)
        return BillingEvent(seq=number, public_id=f"evt_test{number}", type=type,
                            version="2026-12-01", account_id=self.account_id, entry_id=entry_id,
                            created_at=at, acknowledged_at=acknowledged)  # fmt: skip

    def _session(self):  # type: ignore[no-untyped-def]
        return self.database.tenant_session(self.tenant_id)


async def business(database: Database, slug: str = "ofek", ref: str = "A-1") -> Rows:
    tenant = await make_tenant(database, slug, "IL", "ILS", [f"+9723763{next(_sequence):04d}"],
                               timezone=ZONE)  # fmt: skip
    customer = await make_customer(database, tenant, f"{slug}-C", "Dana Levi", [],
                                   [{"currency": "ILS", "ref": ref}])  # fmt: skip
    async with database.tenant_session(tenant) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
    assert account is not None
    return Rows(database, tenant, account)


async def report_of(rows: Rows, day: date = SPRING, now: datetime = NOON):  # type: ignore[no-untyped-def]
    async with rows.database.tenant_session(rows.tenant_id) as session:
        tenant = await session.get(Tenant, rows.tenant_id)
        assert tenant is not None
        return await day_report(session, tenant, day, now=now)


async def _unacknowledged(rows: Rows, now: datetime, limit: int = 1000):  # type: ignore[no-untyped-def]
    async with rows.database.tenant_session(rows.tenant_id) as session:
        tenant = await session.get(Tenant, rows.tenant_id)
        assert tenant is not None
        return await unacknowledged(session, tenant, now=now, limit=limit)


async def recomputed(database: Database, tenant_id: int, day: date) -> list[Figure]:
    """The figures from the raw rows, by another road: every row read, each entry's local
    day and acknowledgement worked out in Python."""
    names = {"payment": "collected", "refund": "refunded", "chargeback": "charged_back",
             "credit": "credited", "payment_reversed": "collection_reversed",
             "chargeback_reversed": "chargeback_reversed"}  # fmt: skip
    async with database.system_session() as session:
        entries = (await session.scalars(
            select(AccountEntry).where(AccountEntry.tenant_id == tenant_id))).all()  # fmt: skip
        payments = {p.id: p for p in await session.scalars(select(Payment))}
        credits = {c.id: c for c in await session.scalars(select(Credit))}
        acknowledged = {e.entry_id for e in await session.scalars(select(BillingEvent))
                        if e.acknowledged_at is not None}  # fmt: skip
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for entry in entries:
        if entry.kind not in names or entry.created_at.astimezone(ZoneInfo(ZONE)).date() != day:
            continue
        if entry.kind == "credit":
            credit = credits[entry.credit_id]
            how, provider = ("approved" if credit.decided_at else "granted"), None
        else:
            payment = payments[entry.payment_id]
            how, provider = payment.method, payment.provider
        key = (names[entry.kind], how, provider, entry.currency, entry.id in acknowledged)
        sums[key][0] += 1
        sums[key][1] += abs(entry.amount_minor)
    return [Figure(*key, count, total) for key, (count, total) in sums.items()]


def _by_key(figures: list[Figure]) -> dict[tuple, tuple[int, int]]:
    return {(f.kind, f.method, f.provider, f.currency, f.acknowledged): (f.count, f.amount_minor)
            for f in figures}  # fmt: skip


async def a_busy_day(rows: Rows) -> dict[str, Written]:
    """Payments by card (two providers) and direct debit, one in euros; a partial refund; a
    chargeback; credits granted, approved and rejected; some acknowledged."""
    ack = NOON + timedelta(minutes=30)
    w: dict[str, Written] = {}
    w["card"] = await rows.payment(10_000, DAY_START + timedelta(hours=1), acknowledged=ack)
    w["card2"] = await rows.payment(2_550, DAY_START + timedelta(hours=2))
    w["gc"] = await rows.payment(7_000, DAY_START + timedelta(hours=3), method="direct_debit",
                                 provider="gocardless", acknowledged=ack)  # fmt: skip
    w["sandbox"] = await rows.payment(1_234, DAY_START + timedelta(hours=4), provider="sandbox")
    w["eur"] = await rows.payment(900, DAY_START + timedelta(hours=5), currency="EUR")
    w["refund"] = await rows.refund(w["card"], 4_000, DAY_START + timedelta(hours=6),
                                    acknowledged=ack)  # fmt: skip
    w["chargeback"] = await rows.chargeback(w["card2"], 2_550, DAY_START + timedelta(hours=7))
    w["granted"] = await rows.credit(500, DAY_START + timedelta(hours=8))
    w["approved"] = await rows.credit(3_000, DAY_START + timedelta(hours=9), approved=True,
                                      acknowledged=ack)  # fmt: skip
    w["rejected"] = await rows.credit(800, DAY_START + timedelta(hours=10), rejected=True)
    return w


async def test_the_day_s_figures_are_exact_by_kind_method_provider_currency_and_ack(
    database: Database,
) -> None:
    rows = await business(database)
    await a_busy_day(rows)

    report = await report_of(rows, now=NOON + timedelta(hours=1))

    assert _by_key(report.figures) == {
        ("collected", "card", "stripe", "ILS", True): (1, 10_000),
        ("collected", "card", "stripe", "ILS", False): (1, 2_550),
        ("collected", "card", "sandbox", "ILS", False): (1, 1_234),
        ("collected", "direct_debit", "gocardless", "ILS", True): (1, 7_000),
        ("collected", "card", "stripe", "EUR", False): (1, 900),
        ("refunded", "card", "stripe", "ILS", True): (1, 4_000),
        ("charged_back", "card", "stripe", "ILS", False): (1, 2_550),
        ("credited", "granted", None, "ILS", False): (1, 500),
        ("credited", "approved", None, "ILS", True): (1, 3_000),
    }
    assert _by_key(report.figures) == _by_key(await recomputed(database, rows.tenant_id, SPRING))
    collected_ils = next(t for t in report.totals if (t.kind, t.currency) == ("collected", "ILS"))
    assert (collected_ils.count, collected_ils.amount_minor) == (4, 20_784)
    assert (collected_ils.acknowledged_count, collected_ils.acknowledged_minor) == (2, 17_000)
    assert (collected_ils.pending_count, collected_ils.pending_minor) == (2, 3_784)
    assert [t.kind for t in report.totals] == [
        "collected",
        "collected",
        "refunded",
        "charged_back",
        "credited",
    ]


async def test_the_day_is_the_business_s_own_from_midnight_to_midnight_on_a_23_hour_day(
    database: Database,
) -> None:
    rows = await business(database)
    second = timedelta(seconds=1)
    await rows.payment(1, DAY_START - second)  # 23:59:59 on the 26th, local
    await rows.payment(10, DAY_START)  # 00:00 on the 27th, local (22:00Z the day before)
    await rows.payment(100, DAY_END - second)  # 23:59:59 local, 20:59:59Z
    await rows.payment(1_000, DAY_END)  # 00:00 on the 28th, local, still the 27th in UTC

    report = await report_of(rows)

    assert (report.start, report.end) == (DAY_START, DAY_END)
    assert report.end - report.start == timedelta(hours=23)
    assert _by_key(report.figures) == {("collected", "card", "stripe", "ILS", False): (2, 110)}
    assert _by_key(report.figures) == _by_key(await recomputed(database, rows.tenant_id, SPRING))
    previous = await report_of(rows, SPRING - timedelta(days=1))
    assert _by_key(previous.figures) == {("collected", "card", "stripe", "ILS", False): (1, 1)}


async def test_an_autumn_day_has_25_hours_and_holds_the_repeated_hour(database: Database) -> None:
    rows = await business(database)
    autumn = date(2026, 10, 25)  # the clocks went back at 02:00: midnight +03:00 to +02:00
    start, end = datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 25, 22, tzinfo=UTC)
    await rows.payment(5, start)
    await rows.payment(7, end - timedelta(microseconds=1))
    await rows.payment(11, end)

    report = await report_of(rows, autumn, now=end + timedelta(days=1))

    assert report.end - report.start == timedelta(hours=25)
    assert _by_key(report.figures) == {("collected", "card", "stripe", "ILS", False): (2, 12)}
    assert _by_key(report.figures) == _by_key(await recomputed(database, rows.tenant_id, autumn))


async def test_unacknowledged_changes_older_than_the_business_s_hours_are_flagged(
    database: Database,
) -> None:
    rows = await business(database, ref="חשבון-7")
    old = await rows.payment(4_200, DAY_START + timedelta(hours=1))
    await rows.payment(300, DAY_START + timedelta(hours=1), acknowledged=NOON)  # acknowledged
    young = await rows.payment(500, DAY_START + timedelta(hours=20))
    unsent = await rows.payment(600, DAY_START + timedelta(hours=2), sent=False)
    credit = await rows.credit(250, DAY_START + timedelta(hours=3), approved=True)
    await rows.credit(999, DAY_START + timedelta(hours=3), rejected=True)
    # The default is 48 hours: the approved credit is 48 and a half hours old.
    now = DAY_START + timedelta(hours=51, minutes=30)

    report = await report_of(rows, now=now)

    flagged = [(i.kind, i.entry_id, i.event_id, i.amount_minor, i.age_hours)
               for i in report.flagged]  # fmt: skip
    assert flagged == [
        ("collected", old.entry_id, old.event_id, 4_200, 50),
        ("collected", unsent.entry_id, None, 600, 49),
        ("credited", credit.entry_id, credit.event_id, 250, 48),
    ]
    assert report.flagged[0].account_ref == "חשבון-7"
    assert report.flagged[0].payment_id == old.payment_id
    assert report.flagged[2].credit_id == credit.credit_id
    assert young.entry_id not in {i.entry_id for i in report.flagged}
    # Across days, only what was sent: a change with no event is its day's report's alone.
    page = await _unacknowledged(rows, now)
    assert [i.entry_id for i in page.items] == [old.entry_id, credit.entry_id]
    assert not page.has_more


async def test_the_hours_are_the_business_s_own_setting(database: Database) -> None:
    rows = await business(database)
    made = await rows.payment(100, DAY_START + timedelta(hours=1))
    now = DAY_START + timedelta(hours=3)
    assert (await report_of(rows, now=now)).flagged == []

    async with database.tenant_session(rows.tenant_id) as session, session.begin():
        tenant = await session.get(Tenant, rows.tenant_id)
        assert tenant is not None
        tenant.billing_ack_hours = 1

    report = await report_of(rows, now=now)
    assert [(i.entry_id, i.age_hours) for i in report.flagged] == [(made.entry_id, 2)]
    assert report.ack_hours == 1


async def test_the_list_across_days_is_oldest_first_and_says_when_there_is_more(
    database: Database,
) -> None:
    rows = await business(database)
    made = [await rows.payment(100 + n, DAY_START - timedelta(days=n)) for n in range(4)]
    now = DAY_START + timedelta(days=10)

    page = await _unacknowledged(rows, now, limit=3)

    assert [i.entry_id for i in page.items] == [m.entry_id for m in reversed(made)][:3]
    assert page.has_more
    assert not (await _unacknowledged(rows, now, limit=4)).has_more


async def test_one_business_never_sees_another_s_rows(database: Database) -> None:
    ours = await business(database, "ofek")
    theirs = await business(database, "other")
    await ours.payment(100, NOON)
    await theirs.payment(7_777, NOON)
    await theirs.credit(55, NOON)

    report = await report_of(ours, now=NOON + timedelta(days=5))

    assert _by_key(report.figures) == {("collected", "card", "stripe", "ILS", False): (1, 100)}
    assert [i.amount_minor for i in report.flagged] == [100]
    assert [i.amount_minor for i in (await _unacknowledged(ours, NOON + timedelta(days=5))).items
            ] == [100]  # fmt: skip


async def test_an_empty_day_has_no_figures(database: Database) -> None:
    rows = await business(database)

    report = await report_of(rows)

    assert (report.figures, report.totals, report.flagged) == ([], [], [])


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "26-03-27", "2026-3-7",
                                  "20260327", "0001-01-01", "9999-12-31", "２０２６-03-27",
                                  "2026-03-27T00:00", " 2026-03-27", ""])  # fmt: skip
def test_a_day_that_is_not_a_calendar_day_in_range_is_refused(text: str) -> None:
    with pytest.raises(BadDay):
        parse_day(text)


def test_yesterday_is_the_business_s_yesterday() -> None:
    tenant = Tenant(timezone=ZONE)
    # 23:30Z on the 27th is already the 28th in Jerusalem.
    assert yesterday(tenant, datetime(2026, 3, 27, 23, 30, tzinfo=UTC)) == SPRING
    assert yesterday(tenant, datetime(2026, 3, 27, 20, 30, tzinfo=UTC)) == SPRING - timedelta(1)
    assert parse_day("2026-03-27") == SPRING


async def test_the_csv_has_a_bom_a_header_and_keeps_hebrew(database: Database) -> None:
    rows = await business(database, ref="=חשבון")
    await rows.payment(4_200, DAY_START + timedelta(hours=1))
    report = await report_of(rows, now=DAY_START + timedelta(days=3))

    figures = figures_csv(report)
    items = items_csv(report.flagged)

    assert figures.startswith("\ufeffdate,timezone,kind,method,provider,currency,"
                              "acknowledged,count,amount_minor\r\n")  # fmt: skip
    line = "2026-03-27,Asia/Jerusalem,collected,card,stripe,ILS,no,1,4200"
    assert figures.splitlines()[1] == line
    assert items.startswith("\ufeffkind,entry_id,payment_id,credit_id,account_id,account_ref,")
    assert ",'=חשבון,4200,ILS,evt_test" in items  # a formula's = is defused, Hebrew kept
    assert items.encode("utf-8").decode("utf-8") == items


async def test_the_real_flows_are_reported_and_an_acknowledgement_moves_them(
    database: Database,
) -> None:
    """A card payment, its partial refund by the provider's event, and credits granted,
    approved and rejected, each through the service that makes it (which writes its entry
    and the event that carries it); then the billing system acknowledges two events."""
    from billing_bridge.account_credits import CreditAsked, decide_credit, grant_on_account
    from billing_bridge.credits import By
    from billing_bridge.events.feed import acknowledge
    from billing_bridge.payments.ledger import record_card_payment
    from billing_bridge.payments.port import ChargeResult, PaymentStatus, WebhookEvent
    from billing_bridge.payments.webhooks import apply_events
    from pbx.db.models import User

    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"], timezone=ZONE)
    customer = await make_customer(database, tenant, "C-1", "Dana Levi", [],
                                   [{"currency": "ILS", "balance_minor": 100_000}])  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        ada, avi = User(username="ada", display_name="Ada", role="admin"), User(
            username="avi", display_name="Avi", role="agent")  # fmt: skip
        session.add_all([ada, avi])
        await session.flush()
        admin, agent = By(ada.id, "admin", "admin:ada"), By(avi.id, "agent", "agent:avi")
    assert account is not None
    now = datetime.now(UTC)
    taken = await record_card_payment(
        database, tenant, account_id=account, call_id=None, amount_minor=10_000,
        currency="ILS", provider="sandbox", idempotency_key="pay-1",
        result=ChargeResult(PaymentStatus.SUCCEEDED, "pi_1", card_last4="4242"),
        actor_id=ada.id, actor_label="admin:ada",
    )  # fmt: skip
    refund = WebhookEvent("evt_p1", "charge.refunded", "payment", "pi_1", "partially_refunded",
                          now, details={"refunded_minor": "2500"})  # fmt: skip
    assert [a.outcome for a in await apply_events(database, "sandbox", [refund], now=now)] == [
        "applied"]  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        await grant_on_account(session, tenant, CreditAsked(account, 400, None, "goodwill"),
                               by=admin, now=now)  # fmt: skip
        asked = [await grant_on_account(session, tenant, CreditAsked(account, amount, None,
                                        "goodwill"), by=agent, now=now)
                 for amount in (700, 900)]  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        await decide_credit(session, tenant, asked[0].id, approve=True, by=admin, now=now)
        await decide_credit(session, tenant, asked[1].id, approve=False, by=admin, now=now)
    today = now.astimezone(ZoneInfo(ZONE)).date()
    rows = Rows(database, tenant, account)

    before = await report_of(rows, today, now + timedelta(hours=49))
    async with database.tenant_session(tenant) as session, session.begin():
        events = dict((await session.execute(
            select(AccountEntry.kind, BillingEvent.public_id)
            .join(BillingEvent, BillingEvent.entry_id == AccountEntry.id))).all())  # fmt: skip
        await acknowledge(session, tenant, [events["payment"], events["refund"]], actor=admin,
                          now=now)  # fmt: skip
    after = await report_of(rows, today, now + timedelta(hours=49))

    assert taken.status == "succeeded"
    assert _by_key(before.figures) == {
        ("collected", "card", "sandbox", "ILS", False): (1, 10_000),
        ("refunded", "card", "sandbox", "ILS", False): (1, 2_500),
        ("credited", "granted", None, "ILS", False): (1, 400),
        ("credited", "approved", None, "ILS", False): (1, 700),
    }
    assert [i.kind for i in before.flagged] == ["collected", "refunded", "credited", "credited"]
    assert all(i.event_id is not None for i in before.flagged)
    assert _by_key(after.figures) == {
        ("collected", "card", "sandbox", "ILS", True): (1, 10_000),
        ("refunded", "card", "sandbox", "ILS", True): (1, 2_500),
        ("credited", "granted", None, "ILS", False): (1, 400),
        ("credited", "approved", None, "ILS", False): (1, 700),
    }
    assert [i.kind for i in after.flagged] == ["credited", "credited"]
    assert _by_key(after.figures) == _by_key(await recomputed(database, tenant, today))
