"""The wall board and a report page in a real browser (Debian's Chromium through
Playwright): the board moves as a caller queues and an agent pauses, Hebrew reads right to
left, and a report page shows the very figures the reports API gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from pbx.reports.board_feed import BoardFeed
from tests.http.conftest import PASSWORD, Site, signed_in, staff_support
from tests.http.support import ApiClient
from tests.reports.calls import log_calls, staff
from tests.reports.test_reports_api import _Money

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def supervised(site: Site) -> AsyncIterator[dict[str, ApiClient]]:
    """`staff_support` with the board's feed running; avi and sam signed in to the API."""
    assert site.context.hub is not None and site.context.desk is not None
    await staff_support(site)
    await site.world.flow.reload_config()
    feed = BoardFeed(site.context.hub, site.world.database, site.context.desk,
                     lambda: datetime.now(UTC))  # fmt: skip
    feed.start()
    clients = await signed_in(site, "avi", "sam")
    yield clients
    for client in clients.values():
        await client.close()
    await feed.stop()


async def _sign_in(site: Site, browser: Browser, path: str, username: str = "sam") -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(site.url + path)
    await page.locator("input[name=tenant]").fill("ofek")
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("#login-form button").click()
    return page


async def test_the_board_moves_when_a_caller_queues_and_when_an_agent_pauses(
    site: Site, browser: Browser, supervised: dict[str, ApiClient]
) -> None:
    page = await _sign_in(site, browser, "/board?lang=en")
    await expect(page.locator("#connection")).to_have_text("Live")
    tile = page.locator('[data-queue="support"]')
    await expect(tile.locator('[data-figure="waiting"]')).to_have_text("0")
    await expect(tile.locator('[data-figure="agents"]')).to_have_text("1 logged out")

    avi, agents = site.world.agents["avi"], tile.locator('[data-figure="agents"]')
    status, _ = await supervised["avi"].call("PUT", f"/agents/{avi}/state", {"state": "available"})
    assert status == 200
    await expect(agents).to_have_text("1 available")
    status, _ = await supervised["avi"].call("PUT", f"/agents/{avi}/state",
                                             {"state": "paused", "reason": "lunch"})  # fmt: skip
    assert status == 200
    await expect(agents).to_have_text("1 paused")

    call = await site.world.call("0502345678")  # nobody available: the caller waits
    await expect(tile.locator('[data-figure="waiting"]')).to_have_text("1")
    # The longest wait goes on ticking in the page between the server's readings.
    await expect(tile.locator('[data-figure="longest_wait"]')).not_to_have_text("0:00")
    await call.hangup()
    await expect(tile.locator('[data-figure="abandoned"]')).to_have_text("1")
    await expect(tile.locator('[data-figure="waiting"]')).to_have_text("0")
    await page.close()


async def test_the_hebrew_board_reads_right_to_left(
    site: Site, browser: Browser, supervised: dict[str, ApiClient]
) -> None:
    page = await _sign_in(site, browser, "/board?lang=he")

    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator("html")).to_have_attribute("lang", "he")
    await expect(page.locator("#connection")).to_have_text("חי")
    tile = page.locator('[data-queue="support"]')
    await expect(tile.locator("dt").first).to_have_text("ממתינים")
    direction = await tile.evaluate("element => getComputedStyle(element).direction")
    assert direction == "rtl"
    await page.close()


def _pct(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{Decimal(value).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


async def test_a_report_page_shows_the_figures_the_reports_api_gives(
    site: Site, browser: Browser, supervised: dict[str, ApiClient]
) -> None:
    world = site.world
    business = await staff(world.database, world.tenant_id)
    local = datetime.now(ZoneInfo("Asia/Jerusalem")).date() - timedelta(days=2)
    start = datetime(local.year, local.month, local.day, 9, tzinfo=UTC)
    await log_calls(world.database, business, start, hours=6, count=40)
    money = _Money(SimpleNamespace(database=world.database), world.tenant_id, business)  # type: ignore[arg-type]
    await money.setup()
    answered = await money.call(answered_at=start)
    await money.payment(1000, start + timedelta(minutes=5), call_id=answered)
    await money.payment(2500, start, method="link")
    day = local.isoformat()

    asked = f"from={day}&to={day}&interval=hour"
    page = await _sign_in(site, browser, f"/reports?lang=en&{asked}")
    await expect(page.locator("body")).to_have_attribute("data-loaded", asked)
    sam = supervised["sam"]
    _, queues = await sam.call("GET", "/reports/queues", **{"from": day, "interval": "hour"})
    _, agents = await sam.call("GET", "/reports/agents", **{"from": day, "interval": "hour"})
    _, collected = await sam.call("GET", "/reports/money", **{"from": day})

    shown = [await row.locator("td").all_text_contents()
             for row in await page.locator("#queue-table tbody tr").all()]  # fmt: skip
    assert shown == [[r["queue_name"], str(r["offered"]), str(r["answered"]), str(r["abandoned"]),
                      _pct(r["service_level_pct"])]
                     for r in queues["totals"] if r["queue_id"] is not None]  # fmt: skip
    assert len(shown) == 2 and sum(int(r[1]) for r in shown) > 0
    agent_rows = [await row.locator("td").all_text_contents()
                  for row in await page.locator("#agent-table tbody tr").all()]  # fmt: skip
    assert [(r[0], r[1]) for r in agent_rows] == [(a["agent_name"], str(a["handled"]))
                                                  for a in agents["totals"]]  # fmt: skip
    money_rows = [await row.locator("td").all_text_contents()
                  for row in await page.locator("#money-table tbody tr").all()]  # fmt: skip
    by_channel = {f["channel"]: f for f in collected["figures"] if f["kind"] == "collected"}
    assert {r[0]: (r[1], r[2]) for r in money_rows} == {
        f"{label} (ILS)": (str(by_channel[key]["count"]),
                           f"₪{by_channel[key]['amount_minor'] / 100:,.2f}")
        for key, label in (("card_in_call", "Card in a call"), ("pay_link", "Pay link"))
    }  # fmt: skip
    per_call = [await row.locator("td").all_text_contents()
                for row in await page.locator("#per-call-table tbody tr").all()]  # fmt: skip
    totals = [r for r in collected["per_call"] if r["agent_id"] is None and r["queue_id"] is None]
    assert per_call == [[str(r["calls"]), f"₪{r['amount_minor'] / 100:,.2f}",
                         f"₪{r['per_call_minor'] / 100:,.2f}"] for r in totals]  # fmt: skip
    assert totals[0]["amount_minor"] == 1000  # the card payment taken in the answered call
    bars = page.locator("#queue-chart svg rect.series-0")
    assert await bars.count() == len({r["interval_start"] for r in queues["rows"]}) + 1  # + its key
    await page.close()
