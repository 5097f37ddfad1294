"""A direct-debit mandate set up in the call: bank details keyed on the phone and checked,
the consent script played and agreed with the recording on, the confirmation queued; the
identity gate; the mandate kept current by the provider's webhooks."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update

from billing_bridge.payments.sandbox import SandboxProvider
from billing_bridge.payments.webhooks import apply_events
from pbx.db.models import AuditEntry, Mandate, OutboxMessage, Recording, Tenant
from pbx.desk.commands import Actor, SendMandateLink, SetUpMandateByPhone, VerifyCaller
from pbx.desk.errors import NotVerified
from pbx.desk.results import MandateStarted
from pbx.simulator.ari.scripts import Call as SimCall
from tests.callflow.money_support import Events, connected_call, money_centre, on_desk
from tests.callflow.world import World


async def centre(world: World, sandbox: SandboxProvider, events: Events) -> tuple[int, Actor]:
    """Dana owes 100.00 ILS, not yet due."""
    return await money_centre(world, sandbox, events, owed=10_000, status="active",
                              due_on=date(2027, 1, 10))  # fmt: skip


async def key(world: World, call: SimCall, prompt: str, digits: str) -> None:
    await world.until(lambda: f"sound:ledgerline-{prompt}" in call.heard, prompt)
    await call.press(digits)


async def test_the_caller_keys_israeli_bank_details_agrees_and_the_mandate_is_set_up(
    world: World,
) -> None:
    events, sandbox = Events(), SandboxProvider(webhook_secret="s")
    account, dana = await centre(world, sandbox, events)
    call = await connected_call(world)

    started = await on_desk(world, SetUpMandateByPhone(call.channel_id, account), dana)
    assert started == MandateStarted("masav")
    await key(world, call, "bank-code", "12#")
    await key(world, call, "bank-branch", "571#")
    await key(world, call, "bank-account", "41117#")  # a check digit off: asked again
    await world.until(lambda: "sound:ledgerline-entry-invalid" in call.heard, "told")
    await world.until(lambda: call.heard.count("sound:ledgerline-bank-code") == 2, "bank")
    await call.press("12#")
    await world.until(lambda: call.heard.count("sound:ledgerline-bank-branch") == 2, "branch")
    await call.press("571#")
    await world.until(lambda: call.heard.count("sound:ledgerline-bank-account") == 2, "acct")
    await call.press("41116#")
    await key(world, call, "mandate-agree", "1")
    await world.until(lambda: events.of("mandate.result"), "the result", within=10)

    result = events.of("mandate.result")[0]
    assert (result["status"], result["scheme"], result["confirmation"]) == (
        "active", "masav", "sent")  # fmt: skip
    assert call.heard.index("sound:ledgerline-consent-masav-ofek") < call.heard.index(
        "sound:ledgerline-mandate-created")  # fmt: skip
    live = world.flow.state.calls[call.channel_id]
    assert live.recording is not None  # recorded throughout: the consent is evidence
    async with world.database.tenant_session(world.tenant_id) as session:
        mandate = await session.scalar(select(Mandate))
        message = await session.scalar(select(OutboxMessage))
        recording = await session.scalar(select(Recording))
        audit = list(await session.scalars(select(AuditEntry.action)))
    assert mandate is not None and (mandate.status, mandate.scheme) == ("active", "masav")
    assert message is not None and message.mandate_id == mandate.id and message.status == "sent"
    assert message.recipient == "+972502345678"
    assert recording is not None and recording.pauses == []
    assert "mandate.create" in audit
    assert "41116" not in str([e for _, e in events])  # the account number stays off desks


async def test_a_restart_mid_keying_puts_the_caller_back_with_the_recording_never_paused(
    world: World,
) -> None:
    events, sandbox = Events(), SandboxProvider(webhook_secret="s")
    account, dana = await centre(world, sandbox, events)
    call = await connected_call(world)
    await on_desk(world, SetUpMandateByPhone(call.channel_id, account), dana)
    await key(world, call, "bank-code", "12#")
    bridge = world.flow.state.calls[call.channel_id].bridge
    assert bridge is not None

    await world.stop_ledgerline()
    assert call.channel_id not in world.sim.model.bridges[bridge].channels  # left out
    await world.start_ledgerline(notify=events, payments=sandbox)

    await world.until(lambda: world.connected_to(call) is not None, "back with the agent")
    await world.until(
        lambda: [e["step"] for e in events.of("mandate.progress")][-1] == "interrupted",
        "the agent told",
    )
    await call.hangup()
    await world.until(lambda: world.flow.state.calls == {}, "call over")
    async with world.database.tenant_session(world.tenant_id) as session:
        recording = await session.scalar(select(Recording))
        mandates = list(await session.scalars(select(Mandate)))
    assert recording is not None and recording.pauses == []  # consent calls are never paused
    assert mandates == []


async def test_the_mandate_follows_the_providers_webhooks_and_never_goes_backwards(
    world: World,
) -> None:
    events, sandbox = Events(), SandboxProvider(webhook_secret="s")
    account, dana = await centre(world, sandbox, events)
    call = await connected_call(world)
    sent: Any = await on_desk(world, SendMandateLink(call.channel_id, account), dana)
    assert sent.status == "pending" and sent.sent == "sent" and sent.url
    async with world.database.tenant_session(world.tenant_id) as session:
        mandate_id, ref = (await session.execute(select(Mandate.id, Mandate.provider_ref))).one()
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "mandate.link")
        )
    assert ref is not None
    assert audited is not None and audited.target_id == str(mandate_id)
    assert audited.details["to"] == sent.to and audited.actor_id is not None

    body, headers = sandbox.settle(ref)  # the payer completed the provider's page
    events_in = sandbox.parse_webhook(body, headers)
    applied = await apply_events(world.database, "sandbox", events_in, now=world.flow.clock())
    assert [a.outcome for a in applied] == ["applied"]
    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(select(Mandate.status)) == "active"


async def test_with_verification_required_a_mandate_waits_for_the_caller_to_be_verified(
    world: World,
) -> None:
    events, sandbox = Events(), SandboxProvider(webhook_secret="s")
    account, dana = await centre(world, sandbox, events)
    async with world.database.system_session() as session, session.begin():
        await session.execute(update(Tenant).values(money_needs_verification=True))
    call = await connected_call(world)

    with pytest.raises(NotVerified) as refused:
        await on_desk(world, SetUpMandateByPhone(call.channel_id, account), dana)
    assert refused.value.code == "caller_not_verified"
    await on_desk(world, VerifyCaller(call.channel_id, ("date_of_birth",)), dana)
    started: Any = await on_desk(world, SetUpMandateByPhone(call.channel_id, account), dana)
    assert started.status == "started"
