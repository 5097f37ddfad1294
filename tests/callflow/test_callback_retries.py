"""Callbacks whose customer does not answer, through the simulator: retried by the queue's
rule, each attempt its own call-log row linked to the call that asked for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from pbx.acd.queues import EntryKind, WaitingCall
from pbx.db.models import Call
from pbx.simulator.ari.scripts import Agent as SimPhone
from pbx.simulator.ari.scripts import Call as SimCall
from tests.callflow.world import Clock, World

CUSTOMER = "PJSIP/+972502345678@pstn-trunk"  # the caller, 0502345678, dialled back
SPACING = timedelta(minutes=10)


class Events(list[tuple[str, dict[str, Any]]]):
    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.append((kind, payload))


async def _callback_centre(world: World, **rule: Any) -> None:
    await world.add_queue(
        "support", strategy="linear", ring_timeout_seconds=5, max_wait_seconds=1,
        overflow_kind="callback", overflow_target="support",
        callback_spacing_seconds=int(SPACING.total_seconds()), **rule,
    )  # fmt: skip
    await world.add_agent("avi", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)


async def _asked_and_first_attempt_failed(world: World, customer: SimPhone) -> SimCall:
    """The caller asks for a callback; avi takes it and the customer's line is busy."""
    call = await world.call()
    await world.until(lambda: call.state == "Hungup", "caller told and let go")
    await world.login("avi")
    await world.until(lambda: _waiting_retry(world, call) is not None, "attempt 2 scheduled")

    async def first_closed() -> bool:
        first = (await _rows(world)).get(f"{call.channel_id}-callback-1")
        return first is not None and first.ended_at is not None

    await world.until_async(first_closed, "attempt 1 in the call log")
    assert len(customer.channel_ids) == 1
    return call


def _waiting_retry(world: World, call: SimCall) -> WaitingCall | None:
    queue = next(iter(world.flow.state.engine.queues.values()))
    entry = queue.get(call.channel_id)
    if entry is None or entry.kind is not EntryKind.CALLBACK or entry.retry_at is None:
        return None
    return entry


def _to(clock: Clock, moment: datetime) -> None:
    """Drive the call flow's clock to `moment` (a second past it)."""
    clock.ahead = moment - datetime.now(UTC) + timedelta(seconds=1)


async def _rows(world: World) -> dict[str, Call]:
    """The call log by channel id, read afresh."""
    async with world.database.tenant_session(world.tenant_id) as session:
        return {row.channel_id: row for row in await session.scalars(select(Call))}


async def _callback_state(world: World, call: SimCall, state: str) -> dict[str, Call]:
    found: dict[str, Call] = {}

    async def check() -> bool:
        found.update(await _rows(world))
        return found[call.channel_id].callback_state == state

    await world.until_async(check, f"callback {state}")
    return found


async def test_an_unanswered_callback_is_retried_after_the_spacing_until_its_last_attempt(
    world: World,
) -> None:
    await _callback_centre(world, callback_attempts=2)
    customer = world.sim.agent(CUSTOMER, busy=True)
    events, clock = Events(), Clock()
    await world.start_ledgerline(notify=events, clock=clock)

    call = await _asked_and_first_attempt_failed(world, customer)
    rows = await _rows(world)
    asking, first = rows[call.channel_id], rows[f"{call.channel_id}-callback-1"]
    assert (asking.outcome, asking.callback_state, asking.ended_at) == ("callback", "pending", None)
    assert (first.callback_of, first.callback_attempt, first.outcome) == (asking.id, 1, "failed")
    assert first.direction == "outbound" and first.agent_id == int(world.agents["avi"])
    entry = _waiting_retry(world, call)
    assert entry is not None and entry.retry_at is not None
    assert entry.retry_at >= first.ended_at + SPACING  # type: ignore[operator]

    _to(clock, entry.retry_at)  # ten minutes on: avi rings again, then the customer

    rows = await _callback_state(world, call, "failed")
    second = rows[f"{call.channel_id}-callback-2"]
    assert (second.callback_of, second.callback_attempt, second.outcome) == (asking.id, 2, "failed")
    assert rows[call.channel_id].ended_at is not None
    assert len(customer.channel_ids) == 2
    assert call.channel_id not in world.flow.state.calls
    ended = [p["call"] for kind, p in events if kind == "call.ended"]
    assert any(c["call_id"] == call.channel_id and c["outcome"] == "callback_failed" for c in ended)


async def test_a_restart_between_attempts_keeps_the_schedule_and_the_next_answer_ends_it(
    world: World,
) -> None:
    await _callback_centre(world)
    customer = world.sim.agent(CUSTOMER, busy=True)
    clock = Clock()
    await world.start_ledgerline(clock=clock)
    call = await _asked_and_first_attempt_failed(world, customer)
    scheduled = _waiting_retry(world, call)
    assert scheduled is not None and scheduled.retry_at is not None

    await world.stop_ledgerline()
    await world.start_ledgerline(clock=clock)
    await world.login("avi")
    restored = _waiting_retry(world, call)
    assert restored is not None and restored.retry_at == scheduled.retry_at
    assert restored.attempts == 1
    customer = world.sim.agent(CUSTOMER, answer_after=0.05)  # at home this time
    _to(clock, scheduled.retry_at)

    await world.until(lambda: world.talk_bridge_size(call) == 2, "agent and customer bridged")
    leg = world.sim.model.channels[customer.channel_ids[-1]]
    world.sim.model.hangup(leg, 16, by_ari=False)  # the customer hangs up after talking

    rows = await _callback_state(world, call, "answered")
    second = rows[f"{call.channel_id}-callback-2"]
    assert (second.callback_attempt, second.outcome) == (2, "answered")
    assert second.answered_at is not None and second.ended_at is not None
    assert rows[call.channel_id].ended_at is not None


async def test_a_customer_who_calls_in_meanwhile_cancels_the_pending_retries(
    world: World,
) -> None:
    await _callback_centre(world)
    customer = world.sim.agent(CUSTOMER, busy=True)
    await world.start_ledgerline(clock=Clock())
    call = await _asked_and_first_attempt_failed(world, customer)

    again = await world.call()  # the same number, before the next attempt is due

    rows = await _callback_state(world, call, "cancelled")
    assert rows[call.channel_id].ended_at is not None
    assert _waiting_retry(world, call) is None
    assert call.channel_id not in world.flow.state.calls
    await world.until(lambda: world.connected_to(again) is not None, "the new call served")


async def test_an_agent_who_hangs_up_before_the_customer_answers_is_an_unanswered_attempt(
    world: World,
) -> None:
    await _callback_centre(world, callback_attempts=2)
    customer = world.sim.agent(CUSTOMER, answer_after=None)  # rings on, unanswered
    events, clock = Events(), Clock()
    await world.start_ledgerline(notify=events, clock=clock)
    call = await world.call()
    await world.until(lambda: call.state == "Hungup", "caller told and let go")
    await world.login("avi")

    await _agent_hangs_up_while_the_customer_rings(world, call, customer, attempt=1)
    await world.until(lambda: _waiting_retry(world, call) is not None, "attempt 2 scheduled")
    entry = _waiting_retry(world, call)
    assert entry is not None and entry.retry_at is not None and entry.attempts == 1
    _to(clock, entry.retry_at)
    await _agent_hangs_up_while_the_customer_rings(world, call, customer, attempt=2)

    rows = await _callback_state(world, call, "failed")
    tried = [rows[f"{call.channel_id}-callback-{n}"] for n in (1, 2)]
    assert [(r.callback_attempt, r.outcome) for r in tried] == [(1, "failed"), (2, "failed")]
    assert all(r.ended_at is not None and r.answered_at is None for r in tried)
    assert call.channel_id not in world.flow.state.calls
    ended = [p["call"] for kind, p in events if kind == "call.ended"]
    assert any(c["call_id"] == call.channel_id and c["outcome"] == "callback_failed" for c in ended)


async def _agent_hangs_up_while_the_customer_rings(
    world: World, call: SimCall, customer: SimPhone, attempt: int
) -> None:
    await world.until(lambda: len(customer.channel_ids) == attempt, f"dial {attempt} rings")
    agent_leg = world.flow.state.calls[call.channel_id].agent_channel
    assert agent_leg is not None
    world.sim.model.hangup(world.sim.model.channels[agent_leg], 16, by_ari=False)
    dialled = world.sim.model.channels[customer.channel_ids[-1]]
    await world.until(lambda: dialled.gone, f"the customer's ringing {attempt} stopped")
