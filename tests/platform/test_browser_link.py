"""A new business's admin opens the set-password link in a real browser (Debian's Chromium,
Playwright), chooses a password and signs in: the token never reaches a request line."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Request, expect

from tests.platform.conftest import PASSWORD, Platform

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_an_admin_sets_a_password_through_the_link_and_signs_in(
    platform: Platform, browser: Browser
) -> None:
    done = await platform.business("acme", "+97237630100")
    page = await browser.new_page()
    requested: list[str] = []

    def seen(request: Request) -> None:
        requested.append(request.url)

    page.on("request", seen)
    await page.goto(done.link.url(platform.url))
    await expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
    assert "set-password" not in page.url  # dropped from the address bar
    await page.get_by_label("Choose one").fill(PASSWORD)
    await page.get_by_role("button", name="Set it").click()
    await expect(page.locator("#set-password-done")).to_have_text("Password set: sign in with it.")
    await page.get_by_label("Business").fill("acme")
    await page.get_by_label("Username").fill("dana")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#me-name")).to_have_text("dana")
    assert not [url for url in requested if done.link.token in url]
    await page.close()
