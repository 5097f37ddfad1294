"""The reconciliation report over HTTP and from the CLI: admins, supervisors and the business's
billing system (a `billing:read` key) read their own business's day, as JSON or CSV; agents
and keys without the scope are refused; a day that does not exist is a 422; the hours after
which an unacknowledged change is flagged are the business's own money setting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import select

from pbx.db.models import Account, AuditEntry, Tenant, User
from pbx.http.api import PREFIX
from tests.billing.test_reconciliation import Rows
from tests.cli_process import run_ledgerline
from tests.factories import make_customer
from tests.http.conftest import password_hash
from tests.http.support import ApiClient
from tests.platform.conftest import PASSWORD, Platform

OFEK, OTHER = "+97237630100", "+97237630199"
ZONE = ZoneInfo("Asia/Jerusalem")
SETTINGS = {"money_needs_verification": False, "credit_limits": {}, "credit_period": "day",
            "credit_account_limit_minor": None, "credits_below_zero": False}  # fmt: skip


async def _rows(platform: Platform, slug: str, account_ref: str) -> Rows:
    async with platform.database.system_session() as session:
        tenant = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert tenant is not None
    customer = await make_customer(platform.database, tenant, f"{slug}-1", "Dana", [],
                                   [{"currency": "ILS", "ref": account_ref}])  # fmt: skip
    async with platform.database.tenant_session(tenant) as session:
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
    assert account is not None
    return Rows(platform.database, tenant, account)


async def _user(platform: Platform, rows: Rows, slug: str, username: str, role: str) -> ApiClient:
    async with platform.database.tenant_session(rows.tenant_id) as session, session.begin():
        session.add(User(username=username, display_name=username.title(), role=role,
                         password_hash=password_hash(PASSWORD)))  # fmt: skip
    client = platform.client()
    await client.login(slug, username, PASSWORD)
    return client


async def _key(admin: ApiClient, *scopes: str) -> str:
    status, body = await admin.call("POST", "/api-keys", {"name": "-".join(scopes),
                                                          "scopes": list(scopes)})  # fmt: skip
    assert status == 201, body
    return body["secret"]


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(UTC)


def _yesterday() -> date:
    return datetime.now(UTC).astimezone(ZONE).date() - timedelta(days=1)


async def _raw(platform: Platform, token: str, path: str, accept: str = "*/*",
               **query: str) -> tuple[int, str, bytes]:  # fmt: skip
    """A request whose answer may not be JSON (CSV): status, content type and bytes."""
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    async with aiohttp.ClientSession() as http, http.get(
        platform.url + PREFIX + path, headers=headers, params=query
    ) as response:  # fmt: skip
        return response.status, response.content_type, await response.read()


async def test_admins_supervisors_and_billing_keys_read_their_own_day_and_agents_cannot(
    platform: Platform,
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    other_admin = await platform.admin_of("other", OTHER)
    ours = await _rows(platform, "ofek", "A-1")
    theirs = await _rows(platform, "other", "B-1")
    day = date(2026, 3, 27)
    await ours.payment(10_000, _local(day, 9), acknowledged=_local(day, 10))
    await ours.payment(2_500, _local(day, 11), method="direct_debit", provider="gocardless")
    await ours.credit(700, _local(day, 12), approved=True)
    await theirs.payment(99_999, _local(day, 9))
    supervisor = await _user(platform, ours, "ofek", "sam", "supervisor")
    agent = await _user(platform, ours, "ofek", "avi", "agent")
    key = platform.client(await _key(admin, "billing:read"))
    their_key = platform.client(await _key(other_admin, "billing:read"))
    no_scope = platform.client(await _key(other_admin, "events:read"))

    status, report = await admin.call("GET", "/reports/reconciliation", date="2026-03-27")

    assert status == 200
    assert (report["date"], report["timezone"]) == ("2026-03-27", "Asia/Jerusalem")
    assert report["date_from"].startswith("2026-03-26T22:00:00")
    assert [(f["kind"], f["method"], f["provider"], f["acknowledged"], f["count"],
             f["amount_minor"]) for f in report["figures"]] == [
        ("collected", "card", "stripe", True, 1, 10_000),
        ("collected", "direct_debit", "gocardless", False, 1, 2_500),
        ("credited", "approved", None, False, 1, 700),
    ]  # fmt: skip
    status, seen = await supervisor.call("GET", "/reports/reconciliation", date="2026-03-27")
    assert status == 200 and seen | {"as_of": report["as_of"]} == report
    status, by_key = await key.call("GET", "/reports/reconciliation", date="2026-03-27")
    assert status == 200 and by_key["figures"] == report["figures"]
    status, their_report = await their_key.call("GET", "/reports/reconciliation",
                                                date="2026-03-27")  # fmt: skip
    assert [f["amount_minor"] for f in their_report["figures"]] == [99_999]
    _, their_admin_s = await other_admin.call("GET", "/reports/reconciliation", date="2026-03-27")
    assert their_admin_s["figures"] == their_report["figures"]
    assert (await agent.call("GET", "/reports/reconciliation"))[0] == 403
    assert (await agent.call("GET", "/reports/reconciliation/unacknowledged"))[0] == 403
    assert (await no_scope.call("GET", "/reports/reconciliation"))[0] == 403
    anonymous = platform.client()
    assert (await anonymous.call("GET", "/reports/reconciliation"))[0] == 401
    operator = platform.client(platform.token)
    assert (await operator.call("GET", "/reports/reconciliation"))[0] == 401
    for client in (
        admin,
        other_admin,
        supervisor,
        agent,
        key,
        their_key,
        no_scope,
        operator,
        anonymous,
    ):
        await client.close()


async def test_without_a_date_the_report_is_the_business_s_yesterday(platform: Platform) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    rows = await _rows(platform, "ofek", "A-1")
    yesterday = _yesterday()
    await rows.payment(1_200, _local(yesterday, 23))
    await rows.payment(3_400, _local(yesterday + timedelta(days=1), 0))  # today: not in it

    status, report = await admin.call("GET", "/reports/reconciliation")

    assert status == 200 and report["date"] == yesterday.isoformat()
    assert [f["amount_minor"] for f in report["figures"]] == [1_200]
    await admin.close()


async def test_the_csv_is_utf8_with_a_bom_and_a_header_and_keeps_hebrew(
    platform: Platform,
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    rows = await _rows(platform, "ofek", "חשבון-1")
    old = _yesterday() - timedelta(days=5)
    made = await rows.payment(4_200, _local(old, 10))
    await rows.refund(made, 1_000, _local(old, 11), acknowledged=_local(old, 12))
    assert admin.token is not None

    status, kind, by_accept = await _raw(platform, admin.token, "/reports/reconciliation",
                                         "text/csv", date=old.isoformat())  # fmt: skip
    _, _, by_format = await _raw(platform, admin.token, "/reports/reconciliation",
                                 format="csv", date=old.isoformat())  # fmt: skip
    _, _, items = await _raw(platform, admin.token, "/reports/reconciliation", format="csv",
                             part="unacknowledged", date=old.isoformat())  # fmt: skip
    _, _, across = await _raw(platform, admin.token, "/reports/reconciliation/unacknowledged",
                              "text/csv")  # fmt: skip

    assert status == 200 and kind == "text/csv"
    assert by_accept == by_format and by_accept.startswith(b"\xef\xbb\xbf")
    lines = by_accept.decode("utf-8-sig").splitlines()
    assert lines == [
        "date,timezone,kind,method,provider,currency,acknowledged,count,amount_minor",
        f"{old},Asia/Jerusalem,collected,card,stripe,ILS,no,1,4200",
        f"{old},Asia/Jerusalem,refunded,card,stripe,ILS,yes,1,1000",
    ]
    flagged = items.decode("utf-8-sig").splitlines()
    assert flagged[0].startswith("kind,entry_id,payment_id,credit_id,account_id,account_ref,")
    assert len(flagged) == 2 and ",חשבון-1,4200,ILS," in flagged[1]
    assert across.decode("utf-8-sig").splitlines()[1:] == flagged[1:]
    await admin.close()


BAD_DAYS = (
    "2026-02-30",
    "2026-13-01",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2026-03-27T00:00:00Z",
    "27/03/2026",
    "",
    "２０２６-03-27",
    "2026-03-27\x00",
)


async def test_a_day_that_does_not_exist_or_is_out_of_range_is_a_422(
    platform: Platform,
) -> None:
    admin = await platform.admin_of("ofek", OFEK)

    for text in BAD_DAYS:
        status, body = await admin.call("GET", "/reports/reconciliation", date=text)
        assert status == 422, text
        assert body["error"]["details"][0]["field"] == "date", text
    for name, value in (("format", "xml"), ("part", "all"), ("limit", "0"), ("limit", "1001")):
        path = "/reports/reconciliation" + ("/unacknowledged" if name == "limit" else "")
        status, body = await admin.call("GET", path, **{name: value})
        assert status == 422 and body["error"]["details"][0]["field"] == name
    await admin.close()


async def test_the_unacknowledged_list_spans_days_with_the_admin_s_hours(
    platform: Platform,
) -> None:
    admin = await platform.admin_of("ofek", OFEK)
    rows = await _rows(platform, "ofek", "A-1")
    supervisor = await _user(platform, rows, "ofek", "sam", "supervisor")
    now = datetime.now(UTC)
    old = await rows.payment(100, now - timedelta(hours=100))
    await rows.payment(200, now - timedelta(hours=100), acknowledged=now - timedelta(hours=90))
    recent = await rows.credit(300, now - timedelta(hours=3))

    _, listed = await admin.call("GET", "/reports/reconciliation/unacknowledged")
    assert [(i["entry_id"], i["event_id"], i["age_hours"]) for i in listed["items"]] == [
        (old.entry_id, old.event_id, 100)]  # fmt: skip
    assert listed["ack_hours"] == 48 and not listed["has_more"]

    refused, _ = await supervisor.call("PUT", "/admin/money-settings",
                                       SETTINGS | {"billing_ack_hours": 2})  # fmt: skip
    status, saved = await admin.call("PUT", "/admin/money-settings",
                                     SETTINGS | {"billing_ack_hours": 2})  # fmt: skip
    _, kept = await admin.call("PUT", "/admin/money-settings", SETTINGS)

    assert refused == 403 and status == 200 and saved["billing_ack_hours"] == 2
    assert kept["billing_ack_hours"] == 2  # omitted: unchanged
    _, listed = await admin.call("GET", "/reports/reconciliation/unacknowledged")
    assert [i["entry_id"] for i in listed["items"]] == [old.entry_id, recent.entry_id]
    _, first = await admin.call("GET", "/reports/reconciliation/unacknowledged", limit=1)
    assert [i["entry_id"] for i in first["items"]] == [old.entry_id] and first["has_more"]
    async with platform.database.tenant_session(rows.tenant_id) as session:
        changes = select(AuditEntry).where(AuditEntry.action == "tenant.money_settings")
        audited = (await session.scalars(changes.order_by(AuditEntry.id))).all()
    assert [(a.details["before"]["billing_ack_hours"], a.details["after"]["billing_ack_hours"])
            for a in audited] == [(48, 2), (2, 2)]  # fmt: skip
    await admin.close()
    await supervisor.close()




async def test_the_cli_prints_the_day_as_a_table_or_csv_and_refuses_a_bad_day(
    platform: Platform,
) -> None:
    await platform.business("ofek", OFEK)
    rows = await _rows(platform, "ofek", "חשבון-9")
    day = date(2026, 3, 27)
    await rows.payment(4_200, _local(day, 10))
    command = ("report", "reconciliation", "--tenant", "ofek", "--date", day.isoformat())

    code, table, err = await run_ledgerline(platform.database.url, *command)
    assert code == 0, err
    lines = table.splitlines()
    assert lines[0].startswith("ofek 2026-03-27 (Asia/Jerusalem: 2026-03-26T22:00Z to ")
    assert lines[1].split() == ["kind", "method", "provider", "currency", "acknowledged",
                                "count", "amount_minor"]  # fmt: skip
    assert lines[2].split() == ["collected", "card", "stripe", "ILS", "no", "1", "4200"]
    assert lines[3] == "unacknowledged after 48 hours: 1"
    assert "חשבון-9" in lines[5] and lines[5].split()[5] == "4200"

    code, csv_text, _ = await run_ledgerline(platform.database.url, *command, "--csv")
    assert code == 0 and csv_text.startswith("\ufeffdate,timezone,kind,")
    line = "2026-03-27,Asia/Jerusalem,collected,card,stripe,ILS,no,1,4200"
    assert csv_text.splitlines()[1] == line

    url, report = platform.database.url, ("report", "reconciliation", "--tenant")
    code, _, err = await run_ledgerline(url, *report, "ofek", "--date", "2026-02-30")
    assert code == 1 and err.strip() == (
        "ledgerline: report reconciliation: --date is not a day of the calendar"
    )
    code, _, err = await run_ledgerline(url, *report, "nobody")
    assert code == 1 and "no business 'nobody'" in err
