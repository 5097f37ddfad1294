"""Secure card capture in a call, through the Asterisk simulator: the caller keys the card,
the agent's leg gets no DTMF, the recording is paused for exactly the capture window, and no
card data is left anywhere."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from billing_bridge.payments.port import CardDetails, ChargeResult, ProviderUnavailable
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.models import Account, AuditEntry, Payment, Recording
from pbx.desk.commands import Actor, TakeCardPayment
from pbx.desk.errors import Forbidden, NotFound
from pbx.desk.results import CardPaymentStarted
from tests.callflow.money_support import (
    Events,
    connected_call,
    key_card,
    money_centre,
    on_desk,
)
from tests.callflow.world import World
from tests.factories import make_customer

AMEX, AMEX_CVC, EXPIRY = "378282246310005", "7391", "1230"  # Stripe's test Amex
DECLINED = "4000000000000002"


async def centre(world: World, payments: Any, events: Events) -> tuple[int, Actor]:
    """Dana owes 450.50 ILS, overdue."""
    return await money_centre(world, payments, events, owed=45_050, status="overdue",
                              due_on=date(2026, 1, 10))  # fmt: skip


async def test_the_caller_keys_a_card_the_agent_hears_none_of_it_and_the_balance_is_paid(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events = Events()
    account, dana = await centre(world, SandboxProvider(webhook_secret="s"), events)
    call = await connected_call(world)
    agent_leg = world.flow.state.calls[call.channel_id].agent_channel
    assert agent_leg is not None

    started = await on_desk(world, TakeCardPayment(call.channel_id, account), dana)
    assert started == CardPaymentStarted(45_050, "ILS")
    await key_card(world, call, AMEX, EXPIRY, AMEX_CVC)
    await world.until(lambda: events.of("payment.result"), "the result", within=10)

    result = events.of("payment.result")[0]
    assert (result["status"], result["card_last4"], result["balance_minor"]) == (
        "succeeded", "0005", 0)  # fmt: skip
    assert "sound:ledgerline-payment-accepted" in call.heard
    assert world.sim.model.channels[agent_leg].digits_sent == []  # no DTMF reached the agent
    await world.until(lambda: world.connected_to(call) is not None, "back with the agent")
    progress = [e["progress"] for e in events.of("payment.progress")]
    assert "card number: 15 digits, valid (American Express)" in progress

    await call.hangup()
    row = await _recording(world)
    capture = [p for p in row.pauses if p["reason"] == "card capture"]
    assert len(capture) == 1 and capture[0]["to"] is not None
    await _no_card_data_anywhere(world, events, caplog.text)


async def test_the_recording_gap_is_exactly_the_capture_window(world: World) -> None:
    events = Events()
    account, dana = await centre(world, SandboxProvider(webhook_secret="s"), events)
    call = await connected_call(world)
    await asyncio.sleep(0.3)  # talk before the capture (at least this long)
    began = datetime.now(UTC)
    await on_desk(world, TakeCardPayment(call.channel_id, account), dana)
    # The moments are taken around what the code orders, not by how long it should take:
    # the recording is paused before the caller is asked for anything, and resumed only
    # after their last key.
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked")
    asked = datetime.now(UTC)
    await call.press(AMEX + "#")
    await world.until(lambda: "sound:ledgerline-card-expiry" in call.heard, "expiry")
    await call.press(EXPIRY)
    await world.until(lambda: "sound:ledgerline-card-cvc" in call.heard, "security code")
    last_key = datetime.now(UTC)
    await call.press(AMEX_CVC + "#")
    await world.until(
        lambda: any(e["step"] == "finished" for e in events.of("payment.progress")), "restored"
    )
    ended = datetime.now(UTC)
    await asyncio.sleep(0.3)  # talk after it
    await call.hangup()

    row = await _recording(world)
    (pause,) = row.pauses
    paused_from, paused_to = (datetime.fromisoformat(pause[k]) for k in ("from", "to"))
    assert began <= paused_from <= asked  # paused within the capture, before the first prompt
    assert last_key <= paused_to <= ended  # ... and resumed after the last key, within it
    file = world.sim.model.stored[row.asterisk_name].data
    seconds_in_file = (len(file) - 44) / 16_000
    total = (row.ended_at - row.started_at).total_seconds()  # Asterisk's recording is within
    # The capture is cut out of the file (Asterisk was paused from before `asked` to after
    # `last_key` at least): only the talk around it remains.
    assert 0.5 <= seconds_in_file <= total - (last_key - asked).total_seconds() + 0.01


async def test_a_restart_mid_capture_puts_the_caller_back_and_resumes_the_recording(
    world: World,
) -> None:
    events = Events()
    account, dana = await centre(world, SandboxProvider(webhook_secret="s"), events)
    call = await connected_call(world)
    await on_desk(world, TakeCardPayment(call.channel_id, account), dana)
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked for the card")
    bridge = world.flow.state.calls[call.channel_id].bridge
    assert bridge is not None

    await world.stop_ledgerline()  # the process goes while the caller is keying
    talk = world.sim.model.bridges[bridge]
    assert call.channel_id not in talk.channels and talk.moh_class is not None  # left out

    await world.start_ledgerline(notify=events, payments=SandboxProvider(webhook_secret="s"))
    await world.until(lambda: world.connected_to(call) is not None, "back with the agent")
    assert world.sim.model.bridges[bridge].moh_class is None  # the agent's music stopped

    def interrupted() -> list[dict[str, Any]]:
        return [e for e in events.of("payment.progress") if e["step"] == "interrupted"]

    await world.until(lambda: interrupted(), "the agent told")
    assert len(interrupted()) == 1 and "check the account" in interrupted()[0]["progress"]
    assert world.flow.state.calls[call.channel_id].keying is None

    await call.hangup()
    row = await _recording(world)
    (pause,) = row.pauses  # paused for the capture, resumed by the process serving next
    assert pause["reason"] == "card capture" and pause["to"] is not None
    assert not events.of("payment.result")  # nothing was charged


async def test_a_mistyped_number_is_asked_again_and_a_decline_is_told_to_caller_and_agent(
    world: World,
) -> None:
    events = Events()
    account, dana = await centre(world, SandboxProvider(webhook_secret="s"), events)
    call = await connected_call(world)
    await on_desk(world, TakeCardPayment(call.channel_id, account, 1_000), dana)
    await world.until(lambda: "sound:ledgerline-card-number" in call.heard, "asked")
    await call.press("4242424242424241#")  # one digit off: fails Luhn
    await world.until(lambda: "sound:ledgerline-entry-invalid" in call.heard, "told")
    await key_card(world, call, DECLINED, EXPIRY, "123")
    await world.until(lambda: events.of("payment.result"), "the result", within=10)

    assert events.of("payment.result")[0]["status"] == "failed"
    assert events.of("payment.result")[0]["failure"] == "card_declined"
    assert "sound:ledgerline-payment-declined" in call.heard
    assert any("failed the check" in e["progress"] for e in events.of("payment.progress"))
    async with world.database.tenant_session(world.tenant_id) as session:
        balance = await session.scalar(text("SELECT balance_minor FROM accounts"))
    assert balance == 45_050  # nothing taken


class FlakyProvider(SandboxProvider):
    """Our port around the sandbox: the first charge times out after the provider took it."""

    def __init__(self) -> None:
        super().__init__(webhook_secret="s")
        self.calls = 0

    async def charge_card(self, card: CardDetails, **options: Any) -> ChargeResult:
        self.calls += 1
        result = await super().charge_card(card, **options)
        if self.calls == 1:
            raise ProviderUnavailable("timed out reading the response")
        return result


async def test_a_charge_retried_after_a_timeout_charges_once(world: World) -> None:
    events = Events()
    provider = FlakyProvider()
    account, dana = await centre(world, provider, events)
    call = await connected_call(world)
    await on_desk(world, TakeCardPayment(call.channel_id, account), dana)
    await key_card(world, call, AMEX, EXPIRY, AMEX_CVC)
    await world.until(lambda: events.of("payment.result"), "the result", within=10)

    assert provider.calls == 2 and len(provider.references()) == 1  # one payment at Stripe
    async with world.database.tenant_session(world.tenant_id) as session:
        payments = (await session.execute(text("SELECT status FROM payments"))).all()
    assert [p.status for p in payments] == ["succeeded"]


async def test_a_payment_cannot_be_taken_on_another_customers_account_or_someone_elses_call(
    world: World,
) -> None:
    events = Events()
    account, dana = await centre(world, SandboxProvider(webhook_secret="s"), events)
    other = await make_customer(
        world.database,
        world.tenant_id,
        "C-2",
        "Avi",
        ["+972509999999"],
        [{"currency": "ILS", "balance_minor": 100, "status": "active"}],
    )
    async with world.database.tenant_session(world.tenant_id) as session:
        others = await session.scalar(
            text("SELECT id FROM accounts WHERE customer_id = :c"), {"c": other}
        )
    call = await connected_call(world)
    stranger = Actor(dana.user_id + 999, world.tenant_id, False, "agent:avi")

    with pytest.raises(NotFound):
        await on_desk(world, TakeCardPayment(call.channel_id, others), dana)
    with pytest.raises(Forbidden):
        await on_desk(world, TakeCardPayment(call.channel_id, account), stranger)


async def _recording(world: World) -> Recording:
    found: list[Recording] = []

    async def ended() -> bool:
        async with world.database.tenant_session(world.tenant_id) as session:
            found[:] = await session.scalars(select(Recording).where(Recording.status == "pending"))
        return bool(found)

    await world.until_async(ended, "the recording finished")
    return found[0]


async def _no_card_data_anywhere(world: World, events: Events, logs: str) -> None:
    """The number (or any 6+ digit run of it), the CVC and the expiry appear in no table,
    event, log line or recording metadata."""
    secrets = [AMEX, AMEX[:6], AMEX[6:12], AMEX_CVC, EXPIRY]
    dumped = [json.dumps(payload, default=str) for _, payload in events]
    async with world.database.system_session() as session:
        for model in (Payment, AuditEntry, Recording, Account):
            rows = (await session.execute(text(f"SELECT * FROM {model.__tablename__}"))).all()
            dumped += [" ".join(str(value) for value in row) for row in rows]
        calls = (await session.execute(text("SELECT * FROM calls"))).all()
        dumped += [" ".join(str(value) for value in row) for row in calls]
        snapshots = (await session.execute(text("SELECT state FROM acd_snapshots"))).all()
        dumped += [str(row) for row in snapshots]
    dumped.append(logs)
    for secret in secrets:
        leaks = [d for d in dumped if re.search(rf"(?<!\d){secret}(?!\d)", d)]
        assert not leaks, f"card data found: {leaks[0][:200]}"
