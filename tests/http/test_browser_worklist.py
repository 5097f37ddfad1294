"""Collections mode in a real browser (Debian's Chromium driven by Playwright): the agent
asks for the next account, sees why it is listed and its pop before anything is dialled,
places the call with one click and records a collections outcome."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from billing_bridge.worklist import rules, store
from pbx.audit import By
from pbx.db.models import Call, WorklistEntry
from tests.http.conftest import Site
from tests.http.test_browser_desk import agent_desk  # noqa: F401  (avi signed in; Sara owes)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SARA = "+972502345678"


async def test_the_agent_previews_the_next_account_calls_it_and_records_the_outcome(
    site: Site, agent_desk: Page  # noqa: F811
) -> None:
    page, world = agent_desk, site.world
    now = datetime.now(UTC)
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        await store.change_policy(session, world.tenant_id, rules.Policy("00:00", "23:59"),
                                  actor=By("admin:ada"), now=now)  # any hour the test runs
    assert (await store.build(world.database, world.tenant_id, now)).listed == 1
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#me-state")).to_have_text("available")
    sara = world.sim.agent(f"PJSIP/{SARA}@pstn-trunk", answer_after=0.05)

    await page.get_by_role("button", name="Next account").click()

    await expect(page.locator("#worklist-why")).to_contain_text("overdue_no_contact")
    await expect(page.locator("#account-body")).to_contain_text("שרה כהן")
    await expect(page.locator("#account-body")).to_contain_text("Overdue invoices")
    assert sara.channel_ids == []  # the pop came before any call

    await page.get_by_role("button", name="Call", exact=True).click()
    await expect(page.locator("#worklist-status")).to_contain_text("Calling")
    await world.until(lambda: len(sara.channel_ids) == 1, "Sara dialled")

    form = page.locator("#collections-outcome")
    await form.get_by_role("combobox", name="Outcome").select_option("right_party_contact")
    await form.get_by_label("Outcome notes").fill("תשלום בשבוע הבא")
    await form.get_by_role("button", name="Save outcome").click()
    await expect(page.locator("#worklist-status")).to_have_text("Outcome saved.")
    async with world.database.tenant_session(world.tenant_id) as session:
        call = await session.scalar(select(Call).where(Call.direction == "outbound"))
        entry = await session.scalar(select(WorklistEntry))
    assert call is not None and (call.disposition, call.notes) == ("right_party_contact",
                                                                   "תשלום בשבוע הבא")
    assert entry is not None and (entry.status, entry.outcome) == ("done", "right_party_contact")
