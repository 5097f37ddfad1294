"""In-call control on the actor's own call: hold, resume, hang up, transfer."""

from __future__ import annotations

from pbx.desk.commands import (
    Actor,
    CancelTransfer,
    CompleteTransfer,
    HangUp,
    Hold,
    Resume,
    Transfer,
)
from pbx.desk.errors import Invalid
from pbx.desk.handlers.common import Ports, own_call


async def hold(ports: Ports, actor: Actor, command: Hold) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.hold(command.call_id, actor.tenant_id)


async def resume(ports: Ports, actor: Actor, command: Resume) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.resume(command.call_id, actor.tenant_id)


async def hang_up(ports: Ports, actor: Actor, command: HangUp) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.hang_up(command.call_id, actor.tenant_id)


async def complete_transfer(ports: Ports, actor: Actor, command: CompleteTransfer) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.complete_transfer(command.call_id, actor.tenant_id)


async def cancel_transfer(ports: Ports, actor: Actor, command: CancelTransfer) -> None:
    own_call(ports, actor, command.call_id)
    await ports.calls.cancel_transfer(command.call_id, actor.tenant_id)


async def transfer(ports: Ports, actor: Actor, command: Transfer) -> None:
    """To a queue (always blind), an agent of the business, or an outside number."""
    call_id, tenant = command.call_id, actor.tenant_id
    own_call(ports, actor, call_id)
    if command.queue:
        await ports.calls.transfer_to_queue(call_id, tenant, command.queue)
    elif command.agent_id is not None:
        profile = ports.calls.agent(command.agent_id)
        if profile is None or profile.tenant_id != tenant:
            raise Invalid("agent_id: no such agent with an endpoint")
        await ports.calls.transfer_to_agent(call_id, tenant, command.agent_id, command.mode)
    elif command.number is not None:
        await ports.calls.transfer_to_number(call_id, tenant, command.number, command.mode)
    else:
        raise Invalid("give a queue, an agent_id or a number")
