"""Placing calls: ARI originate, /channels/create + /dial, and the far ends they reach.

Endpoints the simulator can dial:
- `Local/exten@context`: two halves; `;2` runs `context` of the simulated dialplan, and
  answering it answers `;1` (core_local);
- `PJSIP/<agent>` registered with `sim.agent(...)`: the scripted phone decides;
- `PJSIP/<exten>@<trunk>` for a trunk registered with `sim.loopback_trunk(...)`: the call
  comes back in on the same trunk into its context, as in the pjsip capture;
- anything else fails as chan_pjsip does for an unknown endpoint (500 Allocation failed).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbx.simulator.ari import scripts
from pbx.simulator.ari.state import AriError, Channel, Party

if TYPE_CHECKING:
    from pbx.simulator.ari.simulator import AsteriskSimulator

_NAME_AND_NUMBER = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<number>[^>]*)>\s*$')
_SHRINKABLE = re.compile(r"^[+0-9()\-. ]+$")


def parse_caller_id(text: str | None) -> Party:
    """ast_callerid_parse + ast_shrink_phone_number: `"Name" <+1 555-123>` → name, number."""
    if not text:
        return Party()
    match = _NAME_AND_NUMBER.match(text)
    if match:
        name, number = match["name"].strip(), match["number"].strip()
    elif _SHRINKABLE.match(text.strip()):
        name, number = "", text.strip()
    else:
        name, number = text.strip().strip('"'), ""
    if number and _SHRINKABLE.match(number):
        number = re.sub(r"[()\-. ]", "", number)
    return Party(name, number)


@dataclass
class Originate:
    """The parameters of POST /channels (or /channels/{channelId}), already validated."""

    endpoint: str
    app: str | None = None
    app_args: list[str] = field(default_factory=list)
    caller: Party = field(default_factory=Party)
    timeout: float | None = 30.0  # None: -1, no timeout
    channel_id: str | None = None
    other_channel_id: str | None = None
    variables: Mapping[str, tuple[str, bool]] = field(default_factory=dict)  # name → value, report
    extension: str | None = None
    context: str | None = None
    priority: int = 1

    @property
    def tech_and_resource(self) -> tuple[str, str]:
        tech, _, resource = self.endpoint.partition("/")
        return tech, resource


def originate(sim: AsteriskSimulator, request: Originate) -> Channel:
    tech, resource = request.tech_and_resource
    model = sim.model
    if tech == "Local":
        first, second = model.new_local_pair(
            resource, request.caller, (request.channel_id, request.other_channel_id)
        )
        _prepare(sim, first, request, resource)
        model.announce_local_caller(second)
        model.emit_dial(first, "")
        sim.spawn(scripts.run_dialplan(sim, second))
        sim.spawn(scripts.ring_out(sim, first, request.timeout))
        return first
    if tech != "PJSIP":
        raise AriError(500, "Allocation failed")
    user, _, trunk = resource.rpartition("@")
    if user and trunk in sim.trunks:
        return _loop_through_trunk(sim, request, resource, user, trunk)
    agent = sim.agents.get(request.endpoint)
    if agent is None:
        raise AriError(500, "Allocation failed")
    leg = model.new_pjsip(
        resource,
        request.channel_id,
        protocol_id=str(uuid.uuid4()),
        caller=Party(request.caller.name, request.caller.number),
        connected=Party(request.caller.name, request.caller.number),
    )
    _prepare(sim, leg, request, resource)
    model.emit_dial(leg, "")
    sim.spawn(scripts.ring_agent(sim, leg, agent, request.timeout))
    return leg


def _prepare(sim: AsteriskSimulator, leg: Channel, request: Originate, dialstring: str) -> None:
    for name, (value, report) in request.variables.items():
        leg.variables[name] = value  # set before any app is subscribed: no ChannelVarset
        if report:
            leg.reported_variables.add(name)
    sim.model.mark_dialled(leg, dialstring, request.app)
    if request.app:
        sim.model.pending_stasis[leg.id] = (request.app, request.app_args)


def _loop_through_trunk(
    sim: AsteriskSimulator, request: Originate, resource: str, user: str, trunk: str
) -> Channel:
    """Out through the trunk and straight back in: two PJSIP legs sharing one Call-ID."""
    model = sim.model
    call_id = str(uuid.uuid4())
    context = sim.trunks[trunk]
    leg = model.new_pjsip(
        trunk,
        request.channel_id,
        protocol_id=call_id,
        caller=Party(request.caller.name, request.caller.number),
        connected=Party(request.caller.name, request.caller.number),
        context=context,
    )
    _prepare(sim, leg, request, resource)
    model.emit_dial(leg, "")
    inbound = model.new_pjsip(
        trunk,
        request.other_channel_id,
        state="Ring",
        protocol_id=call_id,
        caller=Party(request.caller.name, request.caller.number),
        context=context,
        exten=user,
    )
    leg.peer_id, inbound.peer_id = inbound.id, leg.id
    sim.spawn(scripts.run_dialplan(sim, inbound))
    sim.spawn(scripts.ring_out(sim, leg, request.timeout))
    return leg


def create(
    sim: AsteriskSimulator,
    endpoint: str,
    app: str,
    app_args: list[str],
    channel_id: str | None,
    variables: Mapping[str, tuple[str, bool]],
) -> Channel:
    """POST /channels/create: a channel in Stasis at once, dialled later with /dial."""
    tech, _, resource = endpoint.partition("/")
    if tech != "PJSIP" or endpoint not in sim.agents:
        raise AriError(500, "Allocation failed")
    model = sim.model
    leg = model.new_pjsip(resource, channel_id, protocol_id=str(uuid.uuid4()))
    leg.created_by_ari, leg.dialstring = True, resource
    for name, (value, report) in variables.items():
        leg.variables[name] = value
        if report:
            leg.reported_variables.add(name)
    model.subscribe(leg, app)
    if not model.enter_stasis(leg, app, app_args):
        model.hangup(leg, 16, by_ari=False)
    return leg


def dial(sim: AsteriskSimulator, leg: Channel, caller: Channel | None, timeout: int) -> None:
    """POST /channels/{id}/dial on a channel made by /channels/create."""
    if leg.state not in ("Down", "Rsrvd"):
        raise AriError(409, "Channel is not in the 'Down' state")
    if not leg.created_by_ari:
        raise AriError(409, "Dialing a channel not created by ARI")
    leg.created_by_ari = False
    if caller is not None:
        leg.connected = Party(caller.caller.name, caller.caller.number)
    leg.dialing = True
    sim.model.emit_dial(leg, "")
    agent = sim.agents[f"PJSIP/{leg.dialstring}"]
    sim.spawn(scripts.ring_agent(sim, leg, agent, timeout if timeout > 0 else None))
