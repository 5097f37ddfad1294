"""A household's call in a real browser: the pop lists who shares the number, the agent
picks the caller with a click, and the desk shows their account."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from pbx.db.models import Call
from tests.factories import make_customer
from tests.http.conftest import Site
from tests.http.test_browser_desk import agent_desk  # noqa: F401 - the fixture

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_a_household_pop_lists_the_members_and_a_click_loads_the_callers_account(
    site: Site, agent_desk: Page  # noqa: F811 - the fixture
) -> None:
    page, world = agent_desk, site.world
    # שרה כהן (C-1, the fixture's) shares her number with David.
    david = await make_customer(world.database, world.tenant_id, "C-2", "David Cohen",
                                ["+972502345678"], [{"currency": "ILS", "balance_minor": 12_000,
                                                     "status": "overdue"}])  # fmt: skip
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#me-state")).to_have_text("available")

    call = await world.call("0502345678")

    await expect(page.locator("#call-name")).to_have_text("Several customers share this number")
    household = page.locator("#household")
    await expect(household).to_contain_text("שרה כהן · C-1 · owes ₪450.50")
    await expect(household).to_contain_text("David Cohen · C-2 · owes ₪120.00")
    await expect(page.get_by_role("button", name="Hold")).to_be_visible()  # answered: who is it?
    await page.get_by_role("button", name="Attach David Cohen to this call").click()

    await expect(page.locator("#call-name")).to_have_text("David Cohen")
    await expect(page.locator("#account-body h3")).to_have_text("David Cohen · C-2")
    await expect(page.locator("#account-body")).to_contain_text("C-2-A0: ₪120.00 · overdue")
    async with world.database.tenant_session(world.tenant_id) as session:
        logged = await session.scalar(
            select(Call.customer_id).where(Call.channel_id == call.channel_id)
        )
    assert logged == david
    await call.hangup()
