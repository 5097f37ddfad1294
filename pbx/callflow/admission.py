"""An inbound call from StasisStart to its queue: identify, log, answer, verify, route.

Once answered, the caller's channel speaks the route's language, or the business's: set as
Asterisk expects it, the `CHANNEL(language)` function written over ARI (`POST
/channels/{id}/variable`), so every `sound:` played to it comes from `sounds/<language>/`.

Runs as one task per call, in the call's lane only where it changes what the call's events
also change; the caller may hang up at any await, and every step after one checks for that.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable

from sqlalchemy import bindparam, select

from billing_bridge.identification import variables
from billing_bridge.identification.model import CallerIdentity
from billing_bridge.phones import to_e164
from billing_bridge.verification import date_of_birth_matches, pin_matches
from pbx.acd.calls import InboundCall
from pbx.acd.errors import AcdError
from pbx.ari import AriError, AriNotFound
from pbx.ari.events import Channel
from pbx.callflow import callbacks, keypad, prompts, self_service_run
from pbx.callflow.call_work import AdmissionWork
from pbx.callflow.calls import FlowCall, Phase
from pbx.callflow.executor import VOICEMAIL_CONTEXT
from pbx.callflow.recorder import RecordingUnavailable
from pbx.callflow.routing import (
    Caller,
    DestinationKind,
    Menu,
    Route,
    Verification,
    is_open,
    route_call,
)
from pbx.db.models import Customer
from pbx.db.scoped import Scoped
from recordings.pauses import PauseError
from recordings.policy import announcement, effective_policy

log = logging.getLogger(__name__)

# What a caller's keyed identity is checked against, built once (`pbx.db.scoped`): read for
# every call on a verifying route, it goes straight to PostgreSQL (`pbx/db/direct.py`).
_ON_FILE = Scoped(
    select(Customer.pin_hash, Customer.date_of_birth).where(Customer.id == bindparam("customer")),
    Customer,
)


async def admit(flow: AdmissionWork, channel: Channel) -> None:
    """A new call entered Stasis: identify and log it, then route it."""
    await _guarded(flow, channel.id, _arrive(flow, channel))


async def resume(flow: AdmissionWork, call: FlowCall) -> None:
    """A call this process was still routing when it stopped: route it now."""
    assert call.caller_channel is not None
    await _guarded(flow, call.caller_channel, _route(flow, call))


async def _guarded(flow: AdmissionWork, channel_id: str, work: Awaitable[None]) -> None:
    try:
        await work
    except AriNotFound:
        await flow.channel_gone(channel_id)  # hung up mid-way: settled as an abandon
    except AriError as exc:
        log.warning("inbound call %s could not be routed: %s", channel_id, exc)
        await flow.channel_gone(channel_id)
        await flow.executor.hangup(channel_id)
    except Exception as exc:  # the database, a bug: the caller must not stay in Stasis
        log.error("inbound call %s could not be admitted (%s): %s", channel_id,
                  type(exc).__name__, "left queued" if _queued(flow, channel_id) else
                  "handed back to the dialplan's fallback", exc_info=exc)  # fmt: skip
        await _fall_back(flow, channel_id)
    finally:
        flow.keypads.stop(channel_id)


def _queued(flow: AdmissionWork, channel_id: str) -> bool:
    call = flow.state.calls.get(channel_id)
    return call is not None and call.phase is not Phase.ARRIVING


async def _fall_back(flow: AdmissionWork, channel_id: str) -> None:
    """Admission failed on an error that is not Asterisk's. A caller queued already stays
    queued and is served from there; otherwise the call ends here as failed, and the caller
    goes back to the dialplan, whose fallback queue serves them (`ledgerline-after-stasis`
    in extensions.conf), or is hung up if even that cannot be asked."""
    call = flow.state.calls.get(channel_id)
    if call is not None:
        async with flow.lanes.call(call.call_id):
            if call.phase is not Phase.ARRIVING:
                return  # queued (the ACD has them), or ended meanwhile
            flow.state.drop(call.call_id)
            call.phase, call.outcome = Phase.ENDED, "failed"
            await flow.executor.stop_music(call)
            await flow.executor.destroy_bridges(call)
            await flow.save()
    try:
        await flow.client.continue_in_dialplan(channel_id)
    except AriNotFound:
        pass  # the caller hung up meanwhile
    except AriError as exc:
        log.warning("inbound call %s not handed back to the dialplan (%s): hung up", channel_id,
                    exc)  # fmt: skip
        await flow.executor.hangup(channel_id)
    if call is not None:
        try:
            await flow.call_log.update(
                call.tenant_id, call.record_id, outcome="failed", ended_at=flow.clock()
            )
        except Exception as exc:
            log.error("call %s: its end not logged: %s", channel_id, type(exc).__name__)


async def _arrive(flow: AdmissionWork, channel: Channel) -> None:
    now = flow.clock()
    did = channel.dialplan.exten
    tenant = await flow.identification.tenant_for(did)
    if tenant is None:
        log.warning("call %s to unknown number %r: refused", channel.id, did)
        await flow.client.hangup(channel.id, reason="unallocated")
        return
    told = await _told(flow, channel)
    caller = await flow.identification.identify_caller(tenant, channel.caller.number, told)
    who = caller.identity
    did_e164 = _did_e164(did, tenant.default_region)
    if who.customer_id is not None and flow.prefetch is not None:
        flow.prefetch(tenant.tenant_id, who.customer_id)  # the screen-pop's panel, meanwhile
    record_id = await flow.call_log.open(
        tenant.tenant_id,
        channel_id=channel.id,
        caller_raw=channel.caller.number,
        caller_number=caller.e164,
        dialed_number=did_e164 if did_e164.startswith("+") else None,
        match=who.match.value,
        customer_id=who.customer_id,
        priority=who.priority,
        arrived_at=now,
    )
    call = FlowCall(
        channel.id, tenant.tenant_id, record_id, channel.id, tenant_slug=tenant.slug,
        language=tenant.language, caller_number=caller.e164,
        did=did_e164, customer_id=who.customer_id, priority=who.priority, arrived_at=now,
        match=who.match.value,
        in_arrears=who.in_arrears,
    )  # fmt: skip
    async with flow.lanes.call(call.call_id):
        flow.state.add(call)
        await flow.save()
    await callbacks.cancel_for_caller(flow, call)  # they called us first
    await _route(flow, call, channel.language)


@functools.lru_cache(maxsize=1024)
def _did_e164(did: str, region: str) -> str:
    """The dialled number in E.164 (as dialled when it is not a valid number). A business's
    calls come in on its few numbers: each is parsed once, not on every call (a parse of a
    national form costs about 50 µs)."""
    return to_e164(did, region) or did


async def _route(flow: AdmissionWork, call: FlowCall, speaks: str | None = None) -> None:
    """`speaks`: the channel's language as StasisStart gave it (None: not known)."""
    assert call.caller_channel is not None
    await flow.client.answer(call.caller_channel)
    route = flow.config.routes.get(call.did)
    if route is not None and route.tenant_id == call.tenant_id and route.language:
        call.language = route.language
    if call.language != speaks:  # most lines speak Asterisk's default: one request fewer
        await flow.client.set_variable(call.caller_channel, "CHANNEL(language)", call.language)
    if route is None or route.tenant_id != call.tenant_id:
        log.warning("no inbound route for %s (tenant %s): caller told so", call.did, call.tenant_id)
        await _finish(flow, call, "failed", prompts.NO_SERVICE)
        return
    # Recorded from the moment the caller is in, by the route and its own queue's policy.
    await _record_by_policy(flow, call, route, route.queue)
    if call.phase is Phase.ENDED:
        return
    needs_check = route.verification is not Verification.NONE and call.verified is None
    if needs_check and call.customer_id is not None:
        await _unrecorded(flow, call, "verification", _verify(flow, call, route))
    if call.phase is Phase.ENDED:
        return
    if route.self_service is not None and is_open(route, flow.clock()):
        await self_service_run.serve(
            flow, call, route.self_service, money=self_service_run.money_of(flow),
            unrecorded=lambda work: _unrecorded(flow, call, "verification", work),
            language=call.language,
        )  # fmt: skip
        if call.phase is Phase.ENDED:
            return
    chosen = None
    if route.menu is not None and is_open(route, flow.clock()):
        chosen = await _menu_choice(flow, call, route.menu)
        if call.phase is Phase.ENDED:
            return
    caller = Caller(call.priority, call.in_arrears)
    destination = route_call(route, caller, flow.clock(), chosen)
    if destination.kind is DestinationKind.QUEUE:
        await _record_by_policy(flow, call, route, destination.target)
        if call.phase is Phase.ENDED:
            return
        await _enqueue(flow, call, destination.target)
    elif destination.kind is DestinationKind.VOICEMAIL:
        async with flow.lanes.call(call.call_id):
            if call.phase is Phase.ENDED:
                return
            flow.state.drop(call.call_id)
            call.phase = Phase.ENDED
            await flow.call_log.update(
                call.tenant_id, call.record_id, outcome="voicemail", ended_at=flow.clock()
            )
            await flow.save()
        await flow.client.continue_in_dialplan(
            call.caller_channel, context=VOICEMAIL_CONTEXT, extension=destination.target,
            priority=1,
        )  # fmt: skip
    else:
        await _finish(flow, call, "closed", prompts.CLOSED)


async def _told(flow: AdmissionWork, channel: Channel) -> CallerIdentity | None:
    """Who caller-lookup said is calling, None when it did not run (or said it malformed).
    StasisStart carries its variables when ari.conf lists them (`channelvars`); ARI is asked
    only for those it did not carry, and not at all once LL_MATCH says no lookup ran."""
    told = dict(channel.channelvars or {})
    for name in (n for n in variables.ROUTING if n not in told):
        told[name] = await _variable(flow, channel.id, name)
        if not told[variables.MATCH]:
            break  # the dialplan did not run caller-lookup (or it failed)
    try:
        return variables.decode(told)
    except variables.MalformedIdentity as exc:
        log.error("call %s: caller-lookup's variables not used: %s", channel.id, exc)
        return None


async def _menu_choice(flow: AdmissionWork, call: FlowCall, menu: Menu) -> str | None:
    """Play the menu and read one digit; an invalid or missing choice is asked again,
    then the route's own queue serves the caller."""
    assert call.caller_channel is not None
    digits = flow.keypads.listen(call.caller_channel)
    try:
        for _ in range(menu.attempts):
            await flow.client.play(call.caller_channel, f"sound:{menu.prompt}")
            pressed = await keypad.collect(
                digits, max_digits=1, first_timeout=flow.timing.first_digit,
                between_timeout=flow.timing.between_digits, terminator="",
            )  # fmt: skip
            if call.phase is Phase.ENDED or pressed in menu.options:
                return menu.options.get(pressed)
            await flow.client.play(call.caller_channel, prompts.INVALID_CHOICE)
        return None
    finally:
        flow.keypads.stop(call.caller_channel)


async def _variable(flow: AdmissionWork, channel_id: str, name: str) -> str:
    """A channel variable, "" when unset (raises AriNotFound when the channel is gone)."""
    try:
        return await flow.client.get_variable(channel_id, name)
    except AriNotFound:
        await flow.client.get_channel(channel_id)
        return ""


async def _verify(flow: AdmissionWork, call: FlowCall, route: Route) -> None:
    """PIN or date of birth on the keypad, `route.verification_attempts` tries. The result
    goes on the call; a caller who fails still reaches an agent, who sees it."""
    assert call.customer_id is not None and call.caller_channel is not None
    async with flow.database.tenant_connection(call.tenant_id) as connection:
        rows = await connection.rows(_ON_FILE, {"customer": call.customer_id})
    pin_hash, born = rows[0] if rows else (None, None)
    by_pin = route.verification is Verification.PIN
    if (by_pin and not pin_hash) or (not by_pin and born is None):
        return  # nothing on file to check against: the agent verifies by questions
    prompt = prompts.ENTER_PIN if by_pin else prompts.ENTER_DATE_OF_BIRTH
    digits = flow.keypads.listen(call.caller_channel)
    outcome = "failed"
    for _ in range(route.verification_attempts):
        await flow.client.play(call.caller_channel, prompt)
        keyed = await keypad.collect(
            digits, max_digits=8, first_timeout=flow.timing.first_digit,
            between_timeout=flow.timing.between_digits,
        )  # fmt: skip
        if call.phase is Phase.ENDED:
            return
        ok = pin_matches(pin_hash, keyed) if by_pin else date_of_birth_matches(born, keyed)
        del keyed
        if ok:
            outcome = route.verification.value
            break
        await flow.client.play(call.caller_channel, prompts.NOT_VERIFIED)
    flow.keypads.stop(call.caller_channel)
    if outcome != "failed":
        await flow.client.play(call.caller_channel, prompts.VERIFIED)
    call.verified = outcome
    await flow.call_log.update(call.tenant_id, call.record_id, verified=outcome)


async def _unrecorded(
    flow: AdmissionWork, call: FlowCall, reason: str, work: Awaitable[None]
) -> None:
    """Run `work` with the recording paused (a PIN keyed on the phone is not recorded)."""
    paused = False
    if call.recording is not None:
        try:
            await flow.recorder.pause(call, reason, None)
            paused = True
        except (RecordingUnavailable, PauseError, AriError) as exc:
            log.warning("call %s: recording not paused for %s: %s", call.call_id, reason, exc)
    try:
        await work
    finally:
        if paused and call.recording is not None and call.phase is not Phase.ENDED:
            try:
                await flow.recorder.resume(call, None)
            except (RecordingUnavailable, PauseError, AriError) as exc:
                log.warning("call %s: recording not resumed: %s", call.call_id, exc)


async def _record_by_policy(flow: AdmissionWork, call: FlowCall, route: Route, queue: str) -> None:
    """Start (or stop) recording as the route and the queue the call is going to say."""
    settings = flow.config.queues.get(queue)
    policy = effective_policy(
        route.recording_policy, settings.recording_policy if settings else None
    )
    if policy == "all" and call.recording is None:
        await flow.recorder.start(call, announcement(route.recording_announcement))
    elif policy == "none" and call.recording is not None:
        await flow.recorder.stop(call)


async def _enqueue(flow: AdmissionWork, call: FlowCall, queue: str) -> None:
    assert call.caller_channel is not None
    settings = flow.config.queues.get(queue)
    # Music on the caller's own channel rather than in a holding bridge: two requests fewer
    # for every call (no bridge to create and later destroy).
    await flow.client.start_moh(call.caller_channel, flow.config.music_for(queue))
    call.music = True
    async with flow.lanes.call(call.call_id):
        if call.phase is Phase.ENDED:
            return
        now = flow.clock()
        inbound = InboundCall(call.call_id, call.priority, call.caller_number, call.arrived_at)
        try:
            commands = flow.state.engine.enqueue(inbound, queue, now)
        except AcdError as exc:
            log.error("call %s cannot join queue %s: %s", call.call_id, queue, exc)
            commands = None
        if commands is not None:
            call.phase, call.queue, call.queued_at = Phase.QUEUED, queue, now
            # Its supervisors and the board hear of it with the pop, when an agent is rung
            # at once (one append to the desks' bus); the call log's row with the offer.
            async with flow.call_log.deferred(
                call.tenant_id, call.record_id, queued_at=now,
                queue_id=settings.queue_id if settings else None,
            ):  # fmt: skip
                with flow.executor.announced_with_next("call.queued", call, []):
                    await flow.executor.run(commands)  # ringing an agent writes the offer
            await flow.save()
    if commands is None:
        await _finish(flow, call, "failed", prompts.NO_SERVICE)


async def _finish(
    flow: AdmissionWork, call: FlowCall, outcome: str, media: tuple[str, ...]
) -> None:
    """Tell the caller (closed, no service) and hang up when the message ends."""
    async with flow.lanes.call(call.call_id):
        if call.phase is Phase.ENDED:
            return
        await flow.executor.destroy_bridges(call)
        await flow.call_log.update(call.tenant_id, call.record_id, outcome=outcome)
        call.outcome = outcome
        await flow.executor.play_then_hang_up(call, media)
        await flow.save()
