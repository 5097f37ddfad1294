"""A centre for in-call money tests: caller Dana Cohen (+972502345678) with one ILS account,
agent dana on queue support, Ledgerline started with a payment provider, desk events kept."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from pbx.callflow.live_calls import local_desk
from pbx.desk.commands import Actor, Command
from pbx.desk.results import Result
from pbx.simulator.ari.scripts import Call as SimCall
from tests.callflow.world import World
from tests.factories import make_customer


class Events(list[tuple[str, dict[str, Any]]]):
    """The desk events the call flow published (its `notify`)."""

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self.append((kind, payload))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [payload["call"] for k, payload in self if k == kind]


async def money_centre(
    world: World, payments: Any, events: Events, *, owed: int, status: str, due_on: date
) -> tuple[int, Actor]:
    """The caller's account id, and agent dana as a desk actor."""
    customer = await make_customer(world.database, world.tenant_id, "C-1", "Dana Cohen",
                                   ["+972502345678"], [{
        "currency": "ILS", "balance_minor": owed, "status": status,
        "invoices": [{"amount_minor": owed, "due_on": due_on, "status": "open"}],
    }])  # fmt: skip
    dana = await dana_answers(world, payments, events)
    async with world.database.tenant_session(world.tenant_id) as session:
        account = await session.scalar(
            text("SELECT id FROM accounts WHERE customer_id = :c"), {"c": customer}
        )
    return account, dana


async def dana_answers(world: World, payments: Any, events: Events) -> Actor:
    """Agent dana (queue support, answering at once) logged in, Ledgerline started with
    `payments` as the payment provider; dana as a desk actor."""
    await world.add_queue("support", strategy="linear")
    agent = await world.add_agent("dana", "1001", "support")
    await world.add_route("support")
    world.sim.agent("PJSIP/1001", answer_after=0.05)
    await world.start_ledgerline(notify=events, payments=payments)
    await world.login("dana")
    return Actor(int(agent), world.tenant_id, False, "agent:dana")


async def on_desk(world: World, command: Command, actor: Actor) -> Result:
    """The command run on the desk of the process that owns the calls."""
    return await local_desk(world.flow).run(command, actor)


async def connected_call(world: World) -> SimCall:
    call = await world.call("0502345678")
    await world.until(lambda: world.connected_to(call) is not None, "connected")
    return call


async def key_card(world: World, call: SimCall, number: str, expiry: str, cvc: str) -> None:
    """The caller keys a card at the prompts, each when it has been played."""
    for prompt, digits in (("card-number", number + "#"), ("card-expiry", expiry),
                           ("card-cvc", cvc + "#")):  # fmt: skip
        await world.until(lambda p=prompt: f"sound:ledgerline-{p}" in call.heard, prompt)
        await call.press(digits)
