"""A small contact centre for call-flow tests: a tenant with a DID, queues, agents and
routes in a real database, the Asterisk simulator, and Ledgerline's call flow between them,
all over real sockets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.service import CallerIdentification
from pbx.acd.agents import AgentState
from pbx.ari import AriClient, AriConnection
from pbx.bootstrap import call_flow
from pbx.callflow.app import CallFlow, FlowTiming, utc_now
from pbx.db.database import Database
from pbx.db.models import Call, InboundNumber, InboundRoute, Queue, QueueMember, User
from pbx.simulator.ari import AsteriskSimulator, Timing
from pbx.simulator.ari.scripts import Call as SimCall
from tests.factories import make_tenant

DID = "+97235550100"
# How long a wait may take before the test fails: a busy machine can make a call's many
# steps slow, and a passing test never waits it out.
WAIT_S = 20.0
DID_AS_DIALLED = "035550100"  # the trunk passes the national form
FAST = Timing(media_wait=0.01, playback=0.05, dtmf_scale=0.02)


class Clock:
    """Real time plus a jump, to get past leases, back-offs and schedules without waiting."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@dataclass
class World:
    database: Database
    sim: AsteriskSimulator
    tenant_id: int
    agents: dict[str, str] = field(default_factory=dict)  # name -> ACD agent id
    queues: dict[str, int] = field(default_factory=dict)  # name -> queue id
    flows: list[CallFlow] = field(default_factory=list)

    @property
    def flow(self) -> CallFlow:
        return self.flows[-1]

    # --- configuration ------------------------------------------------------------------

    async def add_queue(self, name: str, **columns: Any) -> int:
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            queue = Queue(name=name, **columns)
            session.add(queue)
            await session.flush()
            self.queues[name] = queue.id
            return queue.id

    async def add_agent(self, name: str, extension: str, *queues: str, **columns: Any) -> str:
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            user = User(
                username=name, display_name=name.title(), role="agent",
                endpoint=f"PJSIP/{extension}", **columns,
            )  # fmt: skip
            session.add(user)
            await session.flush()
            for position, queue in enumerate(queues):
                session.add(
                    QueueMember(
                        queue_id=self.queues[queue],
                        user_id=user.id,
                        position=len(self.agents) + position,
                    )
                )
            self.agents[name] = str(user.id)
            return str(user.id)

    async def add_route(self, queue: str, did: str = DID, **columns: Any) -> None:
        async with self.database.tenant_session(self.tenant_id) as session, session.begin():
            number = await session.scalar(select(InboundNumber).where(InboundNumber.e164 == did))
            assert number is not None
            session.add(
                InboundRoute(inbound_number_id=number.id, queue_id=self.queues[queue], **columns)
            )

    # --- Ledgerline ---------------------------------------------------------------------

    async def start_ledgerline(
        self, seed: int = 7, notify: Any = None, payments: Any = None, clock: Any = None
    ) -> CallFlow:
        flow = self.new_flow(seed, notify, payments, clock=clock)
        await flow.start()
        await self.until(lambda: flow.ready, "Ledgerline in sync with Asterisk")
        self.flows.append(flow)
        return flow

    def new_flow(
        self,
        seed: int = 7,
        notify: Any = None,
        payments: Any = None,
        node: str = "test-node",
        clock: Any = None,
    ) -> CallFlow:
        """A call flow (a Ledgerline process's) for this world's Asterisk `node`, not started;
        `clock`: its time (a `Clock` to jump ahead), real time if None."""
        client = AriClient(self.sim.url, "ledgerline", "secret", "ledgerline")
        connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.2)
        identification = CallerIdentification(CustomerDirectory(self.database), NoCache(), "IL")
        flow = call_flow(  # wired as the composition root wires a process's
            client, connection, self.database, identification, node=node,
            dial_out="PJSIP/{number}@pstn-trunk", rng=random.Random(seed),
            timing=FlowTiming(tick=0.05, first_digit=1.0, between_digits=0.5), notify=notify,
            payments=payments, clock=clock or utc_now,
        )  # fmt: skip
        return flow

    async def stop_ledgerline(self) -> None:
        flow = self.flows.pop()
        await flow.stop()
        await flow.client.close()

    async def login(self, *names: str) -> None:
        for name in names:
            await self.flow.agent_available(self.agents[name])

    def state_of(self, name: str) -> AgentState:
        return self.flow.state.engine.agents[self.agents[name]].state

    # --- calls --------------------------------------------------------------------------

    async def call(self, caller: str = "0502345678", **options: Any) -> SimCall:
        call = await self.sim.incoming_call(DID_AS_DIALLED, caller, **options)
        assert not call.failed, "the call did not reach Stasis(ledgerline)"
        return call

    async def record(self, call: SimCall) -> Call:
        row = await self._row(call)
        assert row is not None, "no call-log row"
        return row

    async def _row(self, call: SimCall) -> Call | None:
        async with self.database.tenant_session(self.tenant_id) as session:
            return await session.scalar(select(Call).where(Call.channel_id == call.channel_id))

    async def record_when(self, call: SimCall, done: Callable[[Call], bool], what: str) -> Call:
        found: list[Call] = []

        async def check() -> bool:
            row = await self._row(call)
            found[:] = [row] if row is not None else []
            return row is not None and done(row)

        await self.until_async(check, what)
        return found[0]

    def phase_of(self, call: SimCall) -> str | None:
        flow_call = self.flow.state.calls.get(call.channel_id)
        return flow_call.phase.value if flow_call else None

    def talk_bridge_size(self, call: SimCall) -> int:
        """How many channels are in the call's bridge with the agent."""
        flow_call = self.flow.state.calls.get(call.channel_id)
        bridge = self.sim.model.bridges.get(flow_call.bridge or "") if flow_call else None
        return len(bridge.channels) if bridge else 0

    def connected_to(self, call: SimCall) -> str | None:
        """The agent id whose leg is bridged with this caller, if any."""
        flow_call = self.flow.state.calls.get(call.channel_id)
        if flow_call is None or flow_call.bridge is None:
            return None
        bridge = self.sim.model.bridges.get(flow_call.bridge)
        if bridge is None or call.channel_id not in bridge.channels:
            return None
        return flow_call.agent_id if flow_call.agent_channel in bridge.channels else None

    # --- waiting ------------------------------------------------------------------------

    async def until(self, predicate: Callable[[], bool], what: str, within: float = WAIT_S) -> None:
        async def check() -> bool:
            return predicate()

        await self.until_async(check, what, within)

    async def until_async(
        self, predicate: Callable[[], Awaitable[bool]], what: str, within: float = WAIT_S
    ) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not await predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for: {what}")
            await asyncio.sleep(0.02)


async def make_world(database: Database, **sim_options: Mapping[str, Any]) -> World:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", [DID], timezone="Asia/Jerusalem")
    sim = AsteriskSimulator(timing=FAST)
    await sim.start()
    return World(database, sim, tenant_id)
