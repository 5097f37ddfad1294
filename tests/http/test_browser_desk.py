"""The agent's desk in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from redis.asyncio import Redis
from sqlalchemy import select

from billing_bridge.payments.sandbox import SandboxProvider
from pbx.bootstrap import take_payments
from pbx.db.models import Call, Customer, Promise, QueueMember
from pbx.events.hub import Hub
from pbx.events.log import RedisEventLog
from pbx.events.payloads import RecordingStored
from pbx.events.publisher import DeskPublisher, Ringing
from recordings.ari_source import AriRecordingSources
from recordings.local_store import LocalFolderStore
from recordings.pipeline import PipelineSettings, RecordingPipeline
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_customer
from tests.http.conftest import PASSWORD, Site, start_site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def agent_desk(site: Site, browser: Browser) -> AsyncIterator[Page]:
    world = site.world
    overdue = {"amount_minor": 45_050, "due_on": date(2026, 10, 1)}
    account = {"currency": "ILS", "balance_minor": 45_050, "status": "overdue",
               "invoices": [overdue]}  # fmt: skip
    await make_customer(world.database, world.tenant_id, "C-1", "שרה כהן", ["+972502345678"],
                        [account])  # fmt: skip
    await world.add_queue("support")
    avi = await site.user("avi", "agent", endpoint="PJSIP/1001")
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        session.add(QueueMember(queue_id=world.queues["support"], user_id=avi))
    await world.add_route("support")
    world.agents["avi"] = str(avi)
    world.sim.agent("PJSIP/1001", answer_after=1.0)
    await world.flow.reload_config()
    page = await browser.new_page()
    await page.goto(site.url + "/")
    await page.get_by_label("Business").fill("ofek")
    await page.get_by_label("Username").fill("avi")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_text("Connected")
    yield page
    await page.close()


async def test_an_agent_takes_a_call_from_pop_to_wrap_up(site: Site, agent_desk: Page) -> None:
    page, world = agent_desk, site.world
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#me-state")).to_have_text("available")

    call = await world.call("0502345678")

    card = page.locator("#call-card")
    await expect(card).to_contain_text("שרה כהן")
    await expect(card).to_contain_text("450.50")
    await expect(page.locator("#account-body")).to_contain_text("Overdue invoices")
    await expect(page.locator("#call-name")).to_have_attribute("dir", "auto")
    await expect(page.get_by_role("button", name="Hold")).to_be_visible()  # answered

    await page.get_by_role("button", name="Hold").click()
    await expect(page.locator("#call-status")).to_have_text("On hold")
    assert call.heard[-1].startswith("moh:")
    await page.keyboard.press("Enter")  # focus moved to Resume: the keyboard alone will do
    await expect(page.locator("#call-status")).to_have_text("On call")
    await call.hangup()

    await page.get_by_label("Disposition").select_option("promise-to-pay")
    await page.get_by_label("Notes", exact=True).fill("ישלם ביום חמישי")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#wrapup-done")).to_have_text("Saved.")
    async with world.database.tenant_session(world.tenant_id) as session:
        row = await session.scalar(select(Call).where(Call.channel_id == call.channel_id))
    assert (row.disposition, row.notes) == ("promise-to-pay", "ישלם ביום חמישי")


async def test_the_page_reconnects_after_a_restart_and_shows_the_missed_pop_once(
    site: Site, agent_desk: Page
) -> None:
    page, world = agent_desk, site.world
    world.sim.agents["PJSIP/1001"].answer_after = None  # rings on
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#me-state")).to_have_text("available")
    await site.runner.cleanup()  # the HTTP server goes away; its sockets close
    await expect(page.locator("#connection")).to_have_text("Reconnecting…")
    call = await world.call("0502345678")  # its pop is published while the page is away
    await world.until(lambda: world.phase_of(call) == "queued", "queued")
    await site.restart()

    await expect(page.locator("#connection")).to_have_text("Connected")
    await expect(page.locator("#call-card")).to_contain_text("שרה כהן")
    await expect(page.locator("#history li")).to_have_count(1)  # the missed pop, once


async def test_the_agi_only_pop_shows_the_caller_and_their_account_as_the_call_flow_s_does(
    site: Site, agent_desk: Page
) -> None:
    """app_queue rings the agent (no Ledgerline call flow): the pop comes from FastAGI's
    screen-pop, through the same publisher and in the same shape."""
    page, world = agent_desk, site.world
    assert site.publisher is not None
    async with world.database.tenant_session(world.tenant_id) as session:
        customer = await session.scalar(select(Customer.id).where(Customer.customer_ref == "C-1"))
    ringing = Ringing(world.tenant_id, "PJSIP/1001", "1795430000.42", "0502345678", customer)

    assert await site.publisher.offer_ringing(ringing)

    card = page.locator("#call-card")
    await expect(card).to_contain_text("שרה כהן")
    await expect(card).to_contain_text("450.50")
    await expect(page.locator("#account-body")).to_contain_text("Overdue invoices")


async def test_a_desk_on_a_second_process_gets_the_pop_through_redis(
    site: Site, agent_desk: Page, browser: Browser
) -> None:
    """The call flow publishes on process A; the agent's page is served by process B."""
    world = site.world
    a_redis, b_redis = Redis.from_url(REDIS_TEST_URL), Redis.from_url(REDIS_TEST_URL)
    await a_redis.delete(f"ll:desk:{world.tenant_id}")
    publisher_a = DeskPublisher(Hub(RedisEventLog(a_redis, 1000)), world.database,
                                lambda: datetime.now(UTC))  # fmt: skip
    await publisher_a.start()
    world.flow.executor.notify = publisher_a.notify  # process A's call flow publishes to Redis
    hub_b = Hub(RedisEventLog(b_redis, 1000), wait_s=0.5)
    process_b = await start_site(world, site.context.bus, with_flow=False, hub=hub_b)
    page = await browser.new_page()
    try:
        await page.goto(process_b.url + "/")
        await page.get_by_label("Business").fill("ofek")
        await page.get_by_label("Username").fill("avi")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#connection")).to_have_text("Connected")
        await world.flow.agent_available(world.agents["avi"])

        await world.call("0502345678")

        await expect(page.locator("#call-card")).to_contain_text("שרה כהן")
    finally:
        await page.close()
        await process_b.runner.cleanup()
        await publisher_a.stop()
        await hub_b.close()
        await a_redis.aclose()
        await b_redis.aclose()


async def test_the_agent_plays_the_recording_of_a_past_call_from_the_account_panel(
    site: Site, agent_desk: Page, tmp_path: Path
) -> None:
    page, world = agent_desk, site.world
    store = LocalFolderStore(tmp_path / "store")
    site.context.recordings, site.context.agents_play_own = store, True
    await page.get_by_role("button", name="Available").click()
    first = await world.call("0502345678")
    await world.until(lambda: world.connected_to(first) is not None, "connected", within=10)
    await asyncio.sleep(0.5)
    await first.hangup()
    await page.get_by_role("button", name="Save").click()  # wrap-up, ready for the next
    await page.get_by_role("button", name="Available").click()
    pipeline = RecordingPipeline(
        world.database, AriRecordingSources.single(world.flow.snapshots.node, world.flow.client),
        store,
        PipelineSettings(tmp_path / "spool"), lambda: datetime.now(UTC), _no_events,
    )  # fmt: skip
    await world.until_async(pipeline.work_one, "the first call's recording picked up")
    while await pipeline.work_one():
        pass

    await world.call("0502345678")  # the same caller again: the pop lists the first call

    play = page.get_by_role("button", name="Play the recording of this call")
    await play.click()
    audio = page.get_by_label("Call recording")
    await expect(audio).to_have_attribute("src", re.compile(r"/api/v1/recordings/\d+/audio$"))
    duration = await audio.evaluate(
        "a => new Promise(ok => a.readyState >= 1 ? ok(a.duration)"
        " : a.addEventListener('loadedmetadata', () => ok(a.duration)))"
    )
    assert duration > 0.3  # Chromium fetched and decoded the Opus file through the API


async def _no_events(tenant_id: int, stored: RecordingStored) -> None:
    return None


async def test_the_agent_takes_a_card_payment_and_sees_only_progress_and_the_result(
    site: Site, agent_desk: Page
) -> None:
    page, world = agent_desk, site.world
    flow = world.flow
    take_payments(flow, SandboxProvider(webhook_secret="s"), world.database, flow.clock)
    await page.get_by_role("button", name="Available").click()
    call = await world.call("0502345678")
    await page.get_by_role("button", name="Take payment").click()

    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked", within=10)
    await call.press("4242424242424242#")
    await expect(page.locator("#payment-status")).to_contain_text("16 digits, valid (Visa)")
    await world.until(lambda: "sound:ledgerline-card-expiry" in call.heard, "expiry")
    await call.press("1230")
    await world.until(lambda: "sound:ledgerline-card-cvc" in call.heard, "cvc")
    await call.press("123#")

    status = page.locator("#payment-status")
    await expect(status).to_contain_text("taken (card ending 4242)")
    await expect(status).to_contain_text("balance now ₪0.00")
    assert "4242424242424242" not in await page.content()


async def test_the_agent_sets_up_a_direct_debit_by_phone_and_sees_the_outcome(
    site: Site, agent_desk: Page
) -> None:
    page, world = agent_desk, site.world
    flow, sandbox = world.flow, SandboxProvider(webhook_secret="s")
    take_payments(flow, sandbox, world.database, flow.clock)
    await page.get_by_role("button", name="Available").click()
    call = await world.call("0502345678")
    await page.get_by_role("button", name="Direct debit by phone").click()

    for prompt, digits in (("bank-code", "12"), ("bank-branch", "571"),
                           ("bank-account", "41116#"), ("mandate-agree", "1")):  # fmt: skip
        await world.until(lambda p=prompt: f"sound:ledgerline-{p}" in call.heard, prompt)
        await call.press(digits)

    status = page.locator("#payment-status")
    await expect(status).to_contain_text("Direct debit: active (masav); confirmation sent")
    assert "41116" not in await page.content()


async def test_the_agent_records_a_promise_from_the_pop_and_sees_it_on_the_panel(
    site: Site, agent_desk: Page
) -> None:
    page, world = agent_desk, site.world
    await page.get_by_role("button", name="Available").click()
    call = await world.call("0502345678")
    await expect(page.get_by_role("button", name="Hold")).to_be_visible()  # answered
    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()

    form = page.locator("#promise-form")
    await form.get_by_label("Amount").fill("200")
    await form.get_by_label("Pay by").fill(due)
    await form.get_by_label("Method").select_option("bank_transfer")
    await form.get_by_role("button", name="Record promise").click()

    status = page.locator("#promise-status")
    await expect(status).to_contain_text(f"Promise recorded: ₪200.00 by {due}")
    panel = page.locator("#account-body")  # the panel sent again by the server
    await expect(panel).to_contain_text(f"₪200.00 by {due} (bank_transfer) · open")
    await expect(panel).to_contain_text(f"Paused: promise to pay until {due}")
    async with world.database.tenant_session(world.tenant_id) as session:
        promise = await session.scalar(select(Promise))
        record = await session.scalar(select(Call.id).where(Call.channel_id == call.channel_id))
    assert promise is not None and (promise.amount_minor, promise.call_id) == (20_000, record)
    await call.hangup()
