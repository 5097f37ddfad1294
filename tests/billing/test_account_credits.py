"""The credits service as the API uses it off a call, and the business's money settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from billing_bridge.account_credits import (
    CreditAsked,
    CreditFilter,
    grant_on_account,
    recent_credits,
)
from billing_bridge.credits import By, CreditNotFound
from billing_bridge.money_settings import (
    BusinessGone,
    MoneySettings,
    business,
    change_settings,
    settings_of,
)
from pbx.db.database import Database
from pbx.db.models import Account, AuditEntry, Tenant, User
from tests.factories import make_customer, make_tenant

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def _shop(database: Database) -> tuple[int, int, By, By]:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237770000"])
    customer = await make_customer(database, tenant, "C-1", "Dana Levi", ["+972502345678"],
                                   [{"currency": "ILS", "balance_minor": 10_000}])  # fmt: skip
    async with database.tenant_session(tenant) as session, session.begin():
        account = await session.scalar(select(Account.id).where(Account.customer_id == customer))
        dana = User(username="dana", display_name="Dana", role="agent")
        ada = User(username="ada", display_name="Ada", role="admin")
        session.add_all([dana, ada])
        await session.flush()
        return tenant, account, By(dana.id, "agent", "agent:dana"), By(ada.id, "admin", "ada")


async def _grant(database: Database, tenant: int, asked: CreditAsked, by: By) -> None:
    async with database.tenant_session(tenant) as session, session.begin():
        await grant_on_account(session, tenant, asked, by=by, now=NOW)


async def test_a_credit_without_a_currency_is_in_the_accounts(database: Database) -> None:
    tenant, account, _, ada = await _shop(database)

    await _grant(database, tenant, CreditAsked(account, 500, None, "goodwill"), ada)

    async with database.tenant_session(tenant) as session:
        [credit] = await recent_credits(session, CreditFilter())
    assert (credit.currency, credit.amount_minor) == ("ILS", 500)


async def test_a_credit_on_an_account_the_business_lacks_is_not_found(database: Database) -> None:
    tenant, account, _, ada = await _shop(database)

    with pytest.raises(CreditNotFound, match="account not found"):
        await _grant(database, tenant, CreditAsked(account + 1000, 500, None, "goodwill"), ada)


async def test_an_agent_sees_only_the_credits_they_asked_for(database: Database) -> None:
    tenant, account, dana, ada = await _shop(database)
    await _grant(database, tenant, CreditAsked(account, 100, None, "goodwill"), dana)
    await _grant(database, tenant, CreditAsked(account, 200, None, "goodwill"), ada)

    async with database.tenant_session(tenant) as session:
        theirs = await recent_credits(session, CreditFilter(asked_by=dana.user_id))
        everyone = await recent_credits(session, CreditFilter())
    assert [c.amount_minor for c in theirs] == [100]
    assert [c.amount_minor for c in everyone] == [200, 100]  # newest first


def test_an_unknown_period_in_a_hand_edited_row_reads_as_the_longest() -> None:
    tenant = Tenant(money_needs_verification=False, credit_limits=None, credit_period="decade",
                    credit_account_limit_minor=None, credits_below_zero=False)  # fmt: skip

    assert settings_of(tenant) == MoneySettings(False, {}, "month", None, False)


async def test_changed_money_settings_are_audited_before_and_after(database: Database) -> None:
    tenant, _, _, ada = await _shop(database)
    settings = MoneySettings(True, {"agent": 1_000}, "week", 5_000, True)

    async with database.tenant_session(tenant) as session, session.begin():
        await change_settings(session, tenant, settings, by=ada)

    async with database.tenant_session(tenant) as session:
        assert settings_of(await business(session, tenant)) == settings
        entry = await session.scalar(select(AuditEntry))
    assert entry is not None and entry.action == "tenant.money_settings"
    assert entry.details["after"]["credit_limits"] == {"agent": 1_000}
    assert entry.details["before"]["money_needs_verification"] is False


async def test_a_business_removed_while_signed_in_is_not_found(database: Database) -> None:
    tenant, *_ = await _shop(database)

    async with database.tenant_session(tenant) as session:
        with pytest.raises(BusinessGone, match="tenant not found"):
            await business(session, tenant + 1000)
