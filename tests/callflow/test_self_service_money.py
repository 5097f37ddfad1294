"""Paying by card and setting up a direct debit in the IVR's self-service, through the
Asterisk simulator: the same secure capture as in an agent's call (recording paused for
exactly the capture, one charge under an idempotency key, the result read back, no card data
kept), a caller who hangs up mid-capture, one who keys garbage, and the agent who later takes
the call seeing what the caller did."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update

from billing_bridge.payments.sandbox import SandboxProvider
from pbx.callflow import self_service as ss
from pbx.db.models import Account, Mandate, Payment, Recording, Tenant
from pbx.simulator.ari.scripts import Call as SimCall
from pbx.voice import saying
from tests.callflow.money_support import Events, key_card
from tests.callflow.world import World
from tests.factories import make_customer

AMEX, AMEX_CVC, EXPIRY = "378282246310005", "7391", "1230"  # Stripe's test Amex
OWED = 45_050


async def centre(world: World, events: Events, menu: dict[str, Any]) -> int:
    """Dana owes 450.50 ILS (overdue); agent dana on queue support; the line's menu."""
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana Cohen",
                                   ["+972502345678"], [{
        "currency": "ILS", "balance_minor": OWED, "status": "overdue",
        "invoices": [{"amount_minor": OWED, "due_on": date(2026, 1, 10), "status": "open"}],
    }])  # fmt: skip
    await world.add_queue("support", strategy="linear")
    await world.add_agent("dana", "1001", "support")
    await world.add_route("support", self_service=menu)
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline(notify=events, payments=SandboxProvider(webhook_secret="s"))
    return customer


async def menu_then(world: World, call: SimCall, key: str, times: int = 1) -> None:
    await world.until(lambda: call.heard.count(ss.OPTION_AGENT) >= times, "the menu")
    await call.press(key)


async def paying_by_card(world: World) -> tuple[Events, SimCall]:
    """The line's menu offers only paying by card, and a caller has picked it."""
    events = Events()
    await centre(world, events, {"card": True})
    call = await world.call()
    await menu_then(world, call, "2")
    return events, call


async def payments(world: World) -> list[Payment]:
    async with world.database.tenant_session(world.tenant_id) as session:
        return list(await session.scalars(select(Payment)))


async def recording_of(world: World) -> Recording:
    found: list[Recording] = []

    async def finished() -> bool:
        async with world.database.tenant_session(world.tenant_id) as session:
            found[:] = await session.scalars(select(Recording).where(Recording.status == "pending"))
        return bool(found)

    await world.until_async(finished, "the recording finished")
    return found[0]


async def test_the_caller_pays_by_card_in_the_ivr_then_the_agent_sees_it_on_the_pop(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events = Events()
    await centre(world, events, {"balance": True, "card": True})
    await world.login("dana")
    call = await world.call()

    await menu_then(world, call, "2")
    await key_card(world, call, AMEX, EXPIRY, AMEX_CVC)
    await world.until(lambda: "sound:ledgerline-payment-accepted" in call.heard, "the result")
    told = [ss.YOU_WILL_PAY, *saying.money(OWED, "ILS", "en")]
    start = call.heard.index(ss.YOU_WILL_PAY)
    assert call.heard[start: start + len(told)] == told  # the amount, before the card
    assert start < call.heard.index("sound:ledgerline-card-number")

    (payment,) = await payments(world)
    assert (payment.status, payment.amount_minor, payment.card_last4) == ("succeeded", OWED, "0005")
    assert payment.idempotency_key.startswith("call") and payment.call_id is not None
    row = await world.record_when(call, lambda r: r.self_service == ["paid"], "logged")
    assert row.self_service_resolved is True

    await menu_then(world, call, "0", times=2)  # and then an agent, for something else
    await world.until(lambda: world.connected_to(call) is not None, "with agent dana")
    (offered,) = events.of("call.offered")
    assert offered["in_the_ivr"] == {"steps": ["paid", "agent"]}
    row = await world.record_when(call, lambda r: r.self_service == ["paid", "agent"], "log")
    assert row.self_service_resolved is False

    await call.hangup()
    recording = await recording_of(world)
    (pause,) = recording.pauses
    assert pause["reason"] == "card capture" and pause["to"] is not None
    dumped = [json.dumps(payload, default=str) for _, payload in events]
    async with world.database.system_session() as session:
        for table in ("payments", "audit_log", "calls", "recordings"):
            dumped += [str(r) for r in (await session.execute(text(f"SELECT * FROM {table}")))]
        snapshots = [str(r) for r in (await session.execute(text("SELECT * FROM acd_snapshots")))]
    dumped.append(caplog.text)
    # Digit runs standing alone: the ACD's random state (in snapshots and the SQL logged)
    # holds long numbers that may contain any four digits.
    for secret in (AMEX, AMEX[:6], AMEX[6:12], AMEX_CVC):
        alone = re.compile(rf"(?<!\d){secret}(?!\d)")
        kept = [m.string[max(0, m.start() - 80): m.end() + 40]
                for t in dumped + snapshots if (m := alone.search(t))]  # fmt: skip
        assert not kept, f"card data kept: {kept}"


async def test_a_caller_who_hangs_up_mid_capture_is_charged_nothing_and_leaves_nothing(
    world: World,
) -> None:
    _, call = await paying_by_card(world)
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked the card")
    await call.press(AMEX[:8])
    await call.hangup()

    row = await world.record_when(call, lambda r: r.ended_at is not None, "ended")
    await world.until(lambda: call.channel_id not in world.flow.state.calls, "gone")
    assert await payments(world) == []
    assert not world.flow.keypad_sessions.running(world.flow.state.calls.get(call.channel_id)
                                                  or _gone(call))  # fmt: skip
    assert row.self_service_resolved is not True and row.outcome == "abandoned"
    recording = await recording_of(world)
    assert [p["reason"] for p in recording.pauses] == ["card capture"]


async def test_a_caller_who_keys_garbage_is_asked_again_then_the_payment_is_abandoned(
    world: World,
) -> None:
    _, call = await paying_by_card(world)
    for attempt in range(3):
        await world.until(
            lambda n=attempt: call.heard.count("sound:ledgerline-card-number") > n, "asked"
        )
        await call.press("1234#")

    await world.until(lambda: "sound:ledgerline-payment-abandoned" in call.heard, "abandoned")
    assert call.heard.count("sound:ledgerline-entry-invalid") >= 2
    row = await world.record_when(call, lambda r: r.self_service == ["payment_abandoned"], "log")
    assert row.self_service_resolved is False
    assert await payments(world) == []
    await menu_then(world, call, "0", times=2)  # the menu again: an agent then
    await world.until(lambda: world.phase_of(call) == "queued", "queued")


async def test_the_caller_sets_up_a_direct_debit_in_the_ivr(world: World) -> None:
    events = Events()
    await centre(world, events, {"mandate": True})
    call = await world.call()
    await menu_then(world, call, "3")
    for prompt, digits in (("bank-code", "12#"), ("bank-branch", "571#"),
                           ("bank-account", "41116#"), ("mandate-agree", "1")):  # fmt: skip
        await world.until(lambda p=prompt: f"sound:ledgerline-{p}" in call.heard, prompt)
        await call.press(digits)

    await world.until(lambda: "sound:ledgerline-mandate-created" in call.heard, "set up")
    assert call.heard.index("sound:ledgerline-consent-masav-ofek") < call.heard.index(
        "sound:ledgerline-mandate-agree")  # fmt: skip
    row = await world.record_when(call, lambda r: r.self_service == ["mandate"], "logged")
    assert row.self_service_resolved is True
    async with world.database.tenant_session(world.tenant_id) as session:
        mandate = await session.scalar(select(Mandate))
        account = await session.scalar(select(Account))
    assert mandate is not None and mandate.scheme == "masav" and mandate.account_id == account.id
    assert events.of("mandate.result") == []  # no agent to tell: the call log keeps it


def _gone(call: SimCall) -> Any:
    class Gone:
        call_id = call.channel_id

    return Gone()


async def test_a_restart_mid_capture_in_the_ivr_resumes_the_recording_and_charges_nothing(
    world: World,
) -> None:
    events, call = await paying_by_card(world)
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked the card")

    await world.stop_ledgerline()  # the process goes while the caller is keying
    await world.start_ledgerline(notify=events, payments=SandboxProvider(webhook_secret="s"))
    await world.until(lambda: call.heard.count(ss.OPTION_CARD) >= 2, "the menu again")
    await world.until(lambda: world.flow.state.calls[call.channel_id].keying is None, "settled")
    leaving = datetime.now(UTC)  # (the recording resumes before `keying` is cleared)
    await call.hangup()

    recording = await recording_of(world)
    (pause,) = recording.pauses
    assert pause["reason"] == "card capture"
    assert datetime.fromisoformat(pause["to"]) < leaving  # resumed while they listened
    assert await payments(world) == []


async def test_a_business_asking_identity_first_gets_no_mandate_from_a_caller_known_by_number(
    world: World,
) -> None:
    events = Events()
    async with world.database.system_session() as session, session.begin():
        await session.execute(
            update(Tenant).where(Tenant.id == world.tenant_id).values(money_needs_verification=True)
        )
    await centre(world, events, {"mandate": True})
    call = await world.call()  # known by their number only: no PIN keyed
    await menu_then(world, call, "3")

    row = await world.record_when(call, lambda r: r.self_service == ["mandate_failed"], "log")
    assert row.self_service_resolved is False
    assert "sound:ledgerline-mandate-failed" in call.heard
    assert "sound:ledgerline-bank-code" not in call.heard
    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(select(Mandate)) is None
