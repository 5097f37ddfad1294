"""The reports over HTTP: a business's supervisors and admins read its own queues, agents
and money as JSON or CSV (UTF-8 with a BOM); agents are refused, other businesses see
nothing of it, and every filter that is not valid is a 422 naming it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import select

from pbx.db.models import Account, AccountEntry, Call, Credit, Mandate, Payment, Tenant, User
from pbx.http.api import PREFIX
from pbx.reports.agent_states import AgentStateHistory, StateChange
from pbx.reports.csv_export import QUEUE_HEADER
from tests.factories import make_customer
from tests.http.conftest import password_hash
from tests.http.support import ApiClient
from tests.platform.conftest import PASSWORD, Platform, platform  # noqa: F401
from tests.reports.calls import Business, expected_queue_rows, log_calls, raw_calls, staff

JERUSALEM = ZoneInfo("Asia/Jerusalem")
DST_DAY = date(2026, 10, 25)  # Israel: 02:00 IDT becomes 01:00 IST


async def _tenant(platform: Platform, slug: str) -> int:  # noqa: F811
    async with platform.database.system_session() as session:
        found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert found is not None
    return found


async def _user(platform: Platform, tenant: int, slug: str, name: str,  # noqa: F811
                role: str) -> ApiClient:  # fmt: skip
    async with platform.database.tenant_session(tenant) as session, session.begin():
        session.add(User(username=name, display_name=name.title(), role=role,
                         password_hash=password_hash(PASSWORD)))  # fmt: skip
    client = platform.client()
    await client.login(slug, name, PASSWORD)
    return client


async def _raw(platform: Platform, client: ApiClient, path: str,  # noqa: F811
               accept: str = "*/*", **query: str) -> tuple[int, str, bytes]:  # fmt: skip
    headers = {"Authorization": f"Bearer {client.token}", "Accept": accept}
    async with aiohttp.ClientSession() as http, http.get(
        platform.url + PREFIX + path, headers=headers, params=query
    ) as response:  # fmt: skip
        return response.status, response.content_type, await response.read()


async def test_supervisors_read_their_own_queues_by_hour_and_agents_cannot(
    platform: Platform,  # noqa: F811
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    other_admin = await platform.admin_of("other", "+97237630199")
    tenant = await _tenant(platform, "ofek")
    other = await _tenant(platform, "other")
    business = await staff(platform.database, tenant)
    await log_calls(platform.database, business, datetime(2026, 10, 24, 21, tzinfo=UTC),
                    hours=28, count=120)  # fmt: skip
    await log_calls(platform.database, await staff(platform.database, other),
                    datetime(2026, 10, 24, 21, tzinfo=UTC), hours=28, count=20, seed=9)  # fmt: skip
    supervisor = await _user(platform, tenant, "ofek", "sam", "supervisor")
    agent = await _user(platform, tenant, "ofek", "avi", "agent")
    query = {"from": "2026-10-25", "interval": "hour", "service_level_seconds": "30",
             "short_abandon_seconds": "10"}  # fmt: skip

    status, report = await supervisor.call("GET", "/reports/queues", **query)

    assert status == 200, report
    assert report["timezone"] == "Asia/Jerusalem"
    calls = await raw_calls(platform.database, tenant)
    start = datetime.combine(DST_DAY, time(0), tzinfo=JERUSALEM)
    end = datetime.combine(DST_DAY + timedelta(days=1), time(0), tzinfo=JERUSALEM)
    expected = expected_queue_rows([c for c in calls if start <= c.arrived_at < end],
                                   JERUSALEM, 30, 10)  # fmt: skip
    got = {(datetime.fromisoformat(r["interval_start"]).isoformat(), r["queue_id"]):
           {k: v for k, v in r.items() if k not in ("interval_start", "queue_id", "queue_name")}
           for r in report["rows"]}  # fmt: skip
    assert got == expected
    hours = {r["interval_start"] for r in report["rows"]}
    assert {"2026-10-25T01:00:00+03:00", "2026-10-25T01:00:00+02:00"} <= hours  # twice
    status, as_admin = await admin.call("GET", "/reports/queues", **query)
    assert status == 200 and as_admin == report
    status, theirs = await other_admin.call("GET", "/reports/queues", **query)
    assert status == 200 and sum(t["calls"] for t in theirs["totals"]) < 20 + 1
    assert not set(business.queues) & {t["queue_id"] for t in theirs["totals"]}
    for path in ("/reports/queues", "/reports/agents", "/reports/money"):
        status, refused = await agent.call("GET", path)
        assert status == 403, refused
        status, _ = await platform.client().call("GET", path)
        assert status == 401


async def test_the_csv_is_utf8_with_a_bom_and_a_header_by_accept_or_format(
    platform: Platform,  # noqa: F811
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    tenant = await _tenant(platform, "ofek")
    business = await staff(platform.database, tenant)
    await log_calls(platform.database, business, datetime(2026, 5, 4, 6, tzinfo=UTC),
                    hours=4, count=30)  # fmt: skip

    status, kind, body = await _raw(platform, admin, "/reports/queues", accept="text/csv",
                                    **{"from": "2026-05-04"})  # fmt: skip
    by_format = await _raw(platform, admin, "/reports/queues", format="csv",
                           **{"from": "2026-05-04"})  # fmt: skip

    assert (status, kind) == (200, "text/csv") and by_format == (status, kind, body)
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").split("\r\n")
    assert lines[0].split(",") == list(QUEUE_HEADER)
    _, report = await admin.call("GET", "/reports/queues", **{"from": "2026-05-04"})
    assert len([line for line in lines[1:] if line]) == len(report["rows"]) + len(
        report["totals"])
    for path in ("/reports/agents", "/reports/money"):
        status, kind, body = await _raw(platform, admin, path, format="csv",
                                        **{"from": "2026-05-04"})  # fmt: skip
        assert (status, kind) == (200, "text/csv") and body.startswith(b"\xef\xbb\xbf")
        assert "Agentė" in body.decode("utf-8-sig") or path == "/reports/money"

    # The agents' JSON carries the state history's figures, a pause by its reason.
    history, at = AgentStateHistory(platform.database, every=0), datetime(2026, 5, 4, 6, tzinfo=UTC)
    history.record(StateChange(tenant, business.agents[0], "paused", at, reason="lunch"))
    history.record(StateChange(tenant, business.agents[0], "logged_out",
                               at + timedelta(minutes=30)))  # fmt: skip
    await history.flush()
    _, agents = await admin.call("GET", "/reports/agents", **{"from": "2026-05-04"})
    mine = next(t for t in agents["totals"] if t["agent_id"] == business.agents[0])
    assert (mine["login_seconds"], mine["pause_by_reason"]) == (1800, {"lunch": 1800})


HOSTILE = [
    ("/reports/queues", "from", "2026-02-30"), ("/reports/queues", "from", "yesterday"),
    ("/reports/queues", "to", "2025-01-01"), ("/reports/queues", "interval", "minute"),
    ("/reports/queues", "queue", "1;DROP TABLE calls"), ("/reports/queues", "queue", "0"),
    ("/reports/queues", "queue", "9" * 30), ("/reports/queues", "did", "' OR 1=1"),
    ("/reports/queues", "service_level_seconds", "21"),
    ("/reports/queues", "service_level_seconds", "true"),
    ("/reports/queues", "short_abandon_seconds", "-5"),
    ("/reports/queues", "format", "xlsx"), ("/reports/queues", "from", "2026-01-01\x00"),
    ("/reports/agents", "agent", "1,2,x"), ("/reports/agents", "queue", "1.5"),
    ("/reports/money", "agent", "²"), ("/reports/money", "to", "2020-01-01"),
]  # fmt: skip


async def test_a_filter_that_is_not_valid_is_a_422_naming_it(
    platform: Platform,  # noqa: F811
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")

    for path, name, value in HOSTILE:
        status, body = await admin.call("GET", path, **{"from": "2026-01-01", name: value})

        assert status == 422, (path, name, value, body)
        assert body["error"]["details"][0]["field"] == name


async def test_a_year_by_quarter_hour_is_refused_and_a_year_by_day_is_not(
    platform: Platform,  # noqa: F811
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    year = {"from": "2026-01-01", "to": "2026-12-31"}

    status, _ = await admin.call("GET", "/reports/queues", interval="15m", **year)
    assert status == 422
    status, _ = await admin.call("GET", "/reports/queues", interval="day", **year)
    assert status == 200


async def test_money_is_collected_per_channel_agent_and_queue_and_credited_per_granter(
    platform: Platform,  # noqa: F811
) -> None:
    admin = await platform.admin_of("ofek", "+97237630100")
    tenant = await _tenant(platform, "ofek")
    other = (await platform.admin_of("other", "+97237630199"), await _tenant(platform, "other"))
    business = await staff(platform.database, tenant)
    day = datetime(2026, 5, 4, 9, tzinfo=UTC)
    money = _Money(platform, tenant, business)
    await money.setup()
    answered = await money.call(answered_at=day)
    in_ivr = await money.call(answered_at=day + timedelta(hours=2))
    await money.payment(1000, day + timedelta(minutes=5), call_id=answered)
    await money.payment(300, day + timedelta(minutes=6), call_id=answered)
    await money.payment(700, day + timedelta(minutes=30), call_id=in_ivr)
    await money.payment(2500, day, method="link")
    await money.payment(4000, day, key="collect:7:1", method="direct_debit")
    await money.payment(9999, day - timedelta(days=3))  # another day
    await money.credit(150, day, granted_by=business.agents[1], call_id=answered)
    await money.mandate(day)
    await _Money(platform, other[1], await staff(platform.database, other[1])).payment_alone(
        5555, day)

    status, report = await admin.call("GET", "/reports/money", **{"from": "2026-05-04"})

    assert status == 200, report
    agent, queue = business.agents[0], business.queues[0]
    assert [(f["kind"], f["channel"], f["agent_id"], f["queue_id"], f["count"],
             f["amount_minor"]) for f in report["figures"]] == [
        ("collected", "card_in_call", agent, queue, 2, 1300),
        ("collected", "ivr_self_service", None, queue, 1, 700),
        ("collected", "pay_link", None, None, 1, 2500),
        ("collected", "recurring", None, None, 1, 4000),
        ("credited", None, business.agents[1], queue, 1, 150),
    ]  # fmt: skip
    assert report["mandates"] == [{"scheme": "sepa_core", "status": "active", "count": 1}]
    per_call = (agent, queue, "ILS", 2, 1300, 650)  # 700 was paid before the agent answered
    assert [tuple(r.values()) for r in report["per_call"]] == [per_call,
                                                               (None, None, *per_call[2:])]
    status, kind, body = await _raw(platform, admin, "/reports/money", format="csv",
                                    part="per_call", **{"from": "2026-05-04"})  # fmt: skip
    assert (status, kind) == (200, "text/csv")
    assert body.decode("utf-8-sig").splitlines() == [
        "agent_id,queue_id,currency,calls,amount_minor,per_call_minor",
        f"{agent},{queue},ILS,2,1300,650", ",,ILS,2,1300,650"]
    status, mine = await admin.call("GET", "/reports/money", agent=str(agent),
                                    **{"from": "2026-05-04"})  # fmt: skip
    assert [f["amount_minor"] for f in mine["figures"]] == [1300] and mine["mandates"] == []
    status, theirs = await other[0].call("GET", "/reports/money", **{"from": "2026-05-04"})
    assert [f["amount_minor"] for f in theirs["figures"]] == [5555]


class _Money:
    def __init__(self, platform: Platform, tenant: int, business: Business) -> None:  # noqa: F811
        self.database, self.tenant, self.business = platform.database, tenant, business
        self.account = 0
        self.customer = 0
        self.keys = 0

    async def setup(self) -> None:
        self.customer = await make_customer(self.database, self.tenant, f"C-{self.tenant}",
                                            "Dana", [], [{"currency": "ILS",
                                                          "ref": f"A-{self.tenant}"}])  # fmt: skip
        async with self.database.tenant_session(self.tenant) as session:
            self.account = await session.scalar(select(Account.id))  # type: ignore[assignment]

    async def call(self, answered_at: datetime) -> int:
        async with self.database.tenant_session(self.tenant) as session, session.begin():
            row = Call(channel_id=f"m-{answered_at.timestamp()}", caller_raw="1", match="none",
                       arrived_at=answered_at - timedelta(minutes=1), answered_at=answered_at,
                       queue_id=self.business.queues[0], agent_id=self.business.agents[0],
                       ended_at=answered_at + timedelta(hours=1))  # fmt: skip
            session.add(row)
            await session.flush()
            return row.id

    async def payment(self, amount: int, at: datetime, *, call_id: int | None = None,
                      method: str = "card", key: str | None = None) -> None:  # fmt: skip
        self.keys += 1
        async with self.database.tenant_session(self.tenant) as session, session.begin():
            payment = Payment(account_id=self.account, amount_minor=amount, currency="ILS",
                              method=method, provider="sandbox", status="succeeded",
                              idempotency_key=key or f"k-{self.keys}", created_at=at,
                              call_id=call_id)  # fmt: skip
            session.add(payment)
            await session.flush()
            session.add(AccountEntry(account_id=self.account, kind="payment",
                                     amount_minor=-amount, currency="ILS",
                                     balance_after_minor=0, payment_id=payment.id,
                                     created_at=at))  # fmt: skip

    async def payment_alone(self, amount: int, at: datetime) -> None:
        await self.setup()
        await self.payment(amount, at)

    async def credit(self, amount: int, at: datetime, *, granted_by: int, call_id: int) -> None:
        async with self.database.tenant_session(self.tenant) as session, session.begin():
            credit = Credit(account_id=self.account, amount_minor=amount, currency="ILS",
                            reason_code="goodwill", granted_by_id=granted_by, created_at=at,
                            call_id=call_id)  # fmt: skip
            session.add(credit)
            await session.flush()
            session.add(AccountEntry(account_id=self.account, kind="credit",
                                     amount_minor=-amount, currency="ILS",
                                     balance_after_minor=0, credit_id=credit.id,
                                     created_at=at))  # fmt: skip

    async def mandate(self, at: datetime) -> None:
        async with self.database.tenant_session(self.tenant) as session, session.begin():
            session.add(Mandate(customer_id=self.customer, account_id=self.account,
                                provider="sandbox", scheme="sepa_core", status="active",
                                created_at=at))  # fmt: skip
