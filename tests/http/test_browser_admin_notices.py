"""An admin's desk in a real browser shows a webhook subscription the delivery worker
disabled; an agent's desk does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from billing_bridge.webhooks_out.store import Disabled
from pbx.events.notices import AdminNotices
from tests.http.conftest import PASSWORD, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _desk(site: Site, browser: Browser, username: str) -> Page:
    page = await browser.new_page()
    await page.goto(site.url + "/")
    await page.get_by_label("Business").fill("ofek")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_text("Connected")
    return page


@pytest.fixture
async def desks(site: Site, browser: Browser) -> AsyncIterator[tuple[Page, Page, int]]:
    admin = await site.user("boss", "admin")
    await site.user("avi", "agent", endpoint="PJSIP/1001")
    await site.world.flow.reload_config()  # avi can go available
    boss, avi = await _desk(site, browser, "boss"), await _desk(site, browser, "avi")
    yield boss, avi, admin
    await boss.close()
    await avi.close()


async def test_an_admin_s_desk_shows_the_disabled_subscription_and_an_agent_s_does_not(
    site: Site, desks: tuple[Page, Page, int]
) -> None:
    boss, avi, admin_id = desks
    assert site.context.hub is not None
    now = datetime.now(UTC)
    off = Disabled(site.world.tenant_id, 42, "https://billing.ofek.example/hooks",
                   "every delivery failed for 3 days", now - timedelta(days=3), now,
                   (admin_id,))  # fmt: skip

    await AdminNotices(site.context.hub).webhooks_disabled([off])

    notice = boss.locator("#admin-notices li")
    await expect(notice).to_have_count(1)
    await expect(notice).to_contain_text("Webhook subscription 42")
    await expect(notice).to_contain_text("https://billing.ofek.example/hooks")
    await expect(notice).to_contain_text("every delivery failed for 3 days")
    await expect(boss.get_by_role("heading", name="Needs an admin")).to_be_visible()
    # The agent's desk got nothing: an event of its own, published after, shows it was
    # listening (desk events reach a page in the order they were published).
    await avi.get_by_role("button", name="Available").click()
    await expect(avi.locator("#me-state")).to_have_text("available")
    await expect(avi.locator("#admin-notices")).to_have_count(0)
