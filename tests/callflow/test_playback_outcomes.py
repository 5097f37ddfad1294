"""The call flow knows whether each prompt played, with a simulated Asterisk 22 that fails
playbacks of missing files: a consent never heard creates no mandate, a card prompt never
heard charges nothing, the recording notice's outcome is kept on the call, and the caller's
channel speaks the business's (or the route's) language."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, text, update

from billing_bridge.payments.port import CardDetails, ChargeResult, MandateResult
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.db.models import AuditEntry, Mandate, Payment, Recording, Tenant
from pbx.desk.commands import SetUpMandateByPhone, TakeCardPayment
from pbx.simulator.ari import Timing
from pbx.simulator.ari.scripts import Call as SimCall
from tests.callflow.money_support import Events, connected_call, money_centre, on_desk
from tests.callflow.world import FAST, World

CONSENT = "sound:ledgerline-consent-masav-ofek"  # the business's own script for MASAV


class CountingProvider(SandboxProvider):
    """The sandbox, counting what reached the provider."""

    def __init__(self) -> None:
        super().__init__(webhook_secret="s")
        self.charges = self.mandates = 0

    async def charge_card(self, card: CardDetails, **options: Any) -> ChargeResult:
        self.charges += 1
        return await super().charge_card(card, **options)

    async def create_mandate(self, *args: Any, **options: Any) -> MandateResult:
        self.mandates += 1
        return await super().create_mandate(*args, **options)


async def key(world: World, call: SimCall, prompt: str, digits: str) -> None:
    await world.until(lambda: f"sound:ledgerline-{prompt}" in call.heard, prompt)
    await call.press(digits)


async def bank_details(world: World, call: SimCall) -> None:
    await key(world, call, "bank-code", "12#")
    await key(world, call, "bank-branch", "571#")
    await key(world, call, "bank-account", "41116#")


async def mandate_call(world: World, provider: SandboxProvider, events: Events) -> SimCall:
    account, dana = await money_centre(world, provider, events, owed=10_000, status="active",
                                       due_on=date(2027, 1, 10))  # fmt: skip
    call = await connected_call(world)
    await on_desk(world, SetUpMandateByPhone(call.channel_id, account), dana)
    return call


async def test_a_consent_script_that_cannot_be_played_creates_nothing_and_the_agent_is_told(
    world: World,
) -> None:
    events, provider = Events(), CountingProvider()
    world.sim.sounds.remove("ledgerline-consent-masav-ofek")
    call = await mandate_call(world, provider, events)

    await bank_details(world, call)
    await world.until(lambda: CONSENT in call.heard, "the consent tried")
    await call.press("1")  # after silence: must not count
    await world.until(lambda: events.of("mandate.result"), "the result", within=10)

    result = events.of("mandate.result")[0]
    assert (result["status"], result["failure"]) == ("abandoned", "consent_not_played")
    assert provider.mandates == 0
    assert "sound:ledgerline-mandate-agree" not in call.heard
    assert "sound:ledgerline-mandate-abandoned" in call.heard
    told = [e["progress"] for e in events.of("mandate.progress") if e["step"] == "consent"]
    assert told and "could not be played" in told[0]
    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(select(Mandate)) is None
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "mandate.abandoned")
        )
    assert entry is not None and entry.details["reason"] == "consent_not_played"
    assert entry.details["prompt"] == CONSENT
    assert f"{call.channel_id}: Playback failed for {CONSENT}" in world.sim.model.warnings
    await world.until(lambda: world.connected_to(call) is not None, "back with the agent")
    assert world.flow.prompts_player.waiting == 0


async def test_a_key_pressed_before_the_consent_script_ended_is_not_agreement(
    world: World,
) -> None:
    events, provider = Events(), CountingProvider()
    call = await mandate_call(world, provider, events)
    await bank_details(world, call)
    await world.until(lambda: CONSENT in call.heard, "the consent playing")
    await call.press("1")  # while the script is still being read

    await key(world, call, "mandate-agree", "2")  # then: not agreement
    await world.until(lambda: call.heard.count("sound:ledgerline-mandate-agree") == 2, "again")
    assert provider.mandates == 0  # the early "1" counted for nothing
    await call.press("1")
    await world.until(lambda: events.of("mandate.result"), "the result", within=10)

    assert events.of("mandate.result")[0]["status"] == "active"
    assert provider.mandates == 1
    steps = [e["progress"] for e in events.of("mandate.progress")]
    assert "consent: not given — asked again" in steps


async def test_a_caller_who_hangs_up_during_the_consent_leaves_no_mandate_and_no_waiter(
    world: World,
) -> None:
    events, provider = Events(), CountingProvider()
    call = await mandate_call(world, provider, events)
    await bank_details(world, call)
    world.sim.timing = Timing(media_wait=0.01, playback=30.0, dtmf_scale=0.02)
    await world.until(lambda: CONSENT in call.heard, "the consent playing")

    await call.hangup()
    await world.until(lambda: events.of("mandate.result"), "the result", within=10)

    assert events.of("mandate.result")[0]["failure"] == "consent_not_played"
    assert provider.mandates == 0
    await world.until(lambda: world.flow.prompts_player.waiting == 0, "no waiter left")


async def test_a_card_prompt_that_cannot_be_played_charges_nothing_and_puts_the_caller_back(
    world: World,
) -> None:
    events, provider = Events(), CountingProvider()
    world.sim.sounds.remove("ledgerline-card-expiry")
    account, dana = await money_centre(world, provider, events, owed=45_050, status="overdue",
                                       due_on=date(2026, 1, 10))  # fmt: skip
    call = await connected_call(world)
    await on_desk(world, TakeCardPayment(call.channel_id, account), dana)

    await key(world, call, "card-number", "378282246310005#")
    await world.until(lambda: events.of("payment.result"), "the result", within=10)

    result = events.of("payment.result")[0]
    assert (result["status"], result["failure"]) == ("abandoned", "prompt_not_played")
    assert provider.charges == 0
    assert "sound:ledgerline-card-cvc" not in call.heard
    await world.until(lambda: world.connected_to(call) is not None, "back with the agent")

    async def resumed() -> bool:
        async with world.database.tenant_session(world.tenant_id) as session:
            recording = await session.scalar(select(Recording))
        pauses = recording.pauses if recording is not None else []
        return len(pauses) == 1 and pauses[0]["reason"] == "card capture" and bool(
            pauses[0].get("to")
        )

    await world.until_async(resumed, "the recording resumed after the capture")
    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(select(Payment)) is None


async def test_the_recording_notice_played_to_its_end_is_kept_on_the_call(world: World) -> None:
    await answering_centre(world)

    call = await world.call()
    row = await world.record_when(call, lambda r: r.recording_notice == "played", "played")

    assert row.recording_notice == "played"


async def test_a_recording_notice_that_could_not_be_played_is_kept_as_failed(
    world: World,
) -> None:
    world.sim.sounds.remove("ledgerline-call-recorded")
    events = Events()
    await answering_centre(world, notify=events)

    call = await world.call()
    row = await world.record_when(call, lambda r: r.recording_notice != "none", "the notice")
    await world.until(lambda: events.of("call.offered"), "the pop")

    assert row.recording_notice == "failed"
    assert events.of("call.offered")[0]["recording_notice"] == "failed"  # the agent sees it


async def test_a_call_never_recorded_heard_no_notice(world: World) -> None:
    await answering_centre(world, recording_policy="none")

    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    row = await world.record(call)

    assert row.recording_notice == "none"
    assert "sound:ledgerline-call-recorded" not in call.heard


async def test_the_caller_channel_speaks_the_business_language(world: World) -> None:
    async with world.database.system_session() as session, session.begin():
        await session.execute(update(Tenant).values(language="he"))
    world.sim.sounds.install("he", ["ledgerline-call-recorded"])
    await answering_centre(world)

    call = await world.call()
    row = await world.record_when(call, lambda r: r.recording_notice != "none", "the notice")

    language = {"variable": "CHANNEL(language)", "value": "he"}
    assert ("POST", f"/channels/{call.channel_id}/variable", language, 204) in world.sim.requests
    assert world.sim.model.channels[call.channel_id].language == "he"
    assert world.flow.state.calls[call.channel_id].language == "he"
    assert row.recording_notice == "played"  # the Hebrew file was there


async def test_a_route_language_overrides_the_business_and_picks_its_files(
    world: World,
) -> None:
    async with world.database.system_session() as session, session.begin():
        await session.execute(update(Tenant).values(language="he"))
    world.sim.sounds.install("he", ["ledgerline-call-recorded"])  # but none in Lithuanian
    await answering_centre(world, language="lt")

    call = await world.call()
    row = await world.record_when(call, lambda r: r.recording_notice != "none", "the notice")

    variables = [
        r for r in world.sim.requests if r[:2] == ("POST", f"/channels/{call.channel_id}/variable")
    ]
    assert variables == [("POST", f"/channels/{call.channel_id}/variable",
                          {"variable": "CHANNEL(language)", "value": "lt"}, 204)]  # fmt: skip
    assert world.sim.model.channels[call.channel_id].language == "lt"
    assert row.recording_notice == "failed"  # Asterisk had no lt (nor en) file for it


async def test_a_line_speaking_asterisks_default_language_costs_no_request(
    world: World,
) -> None:
    await answering_centre(world)

    call = await world.call()
    await world.until(lambda: world.connected_to(call) is not None, "connected")

    assert not [r for r in world.sim.requests if r[0] == "POST" and r[1].endswith("/variable")]
    async with world.database.tenant_session(world.tenant_id) as session:
        assert await session.scalar(text("SELECT language FROM tenants")) is None


async def answering_centre(world: World, notify: Events | None = None, **route: Any) -> None:
    assert world.sim.timing == FAST
    await world.add_queue("support", strategy="linear")
    await world.add_agent("dana", "1001", "support")
    await world.add_route("support", **route)
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline(notify=notify)
    await world.login("dana")
