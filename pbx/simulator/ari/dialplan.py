"""A tiny dialplan: what a channel does in a context before (and after) it reaches Stasis.

Only what the simulated calls need: each context is one list of steps that every extension
runs. The default is Ledgerline's own `from-pstn` (asterisk-conf/extensions.conf): NoOp,
Ringing, the caller-lookup AGI, the AGISTATUS check, then Stasis(ledgerline). Tests that
replay the captures pass the capture's dialplan instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pbx.simulator.ari.state import NORMAL_CLEARING, Channel

if TYPE_CHECKING:
    from pbx.simulator.ari.model import Asterisk


@dataclass(frozen=True)
class Step:
    """One priority: a dialplan application and its data (`${...}` substituted)."""

    app: str
    data: str = ""
    sets: Mapping[str, str] = field(default_factory=dict)  # AGI / Set: variables it sets


Dialplan = Mapping[str, Sequence[Step]]
# what the runner does after a step: go on, go on after Answer()'s wait for media, stop
# (the app runs until hangup), or the channel is now in Stasis / failed to enter it
Outcome = Literal["next", "wait_media", "stop", "stasis", "stasis_failed"]

LEDGERLINE_DIALPLAN: Dialplan = {
    "from-pstn": (
        Step("NoOp", "Ledgerline inbound call to DID ${EXTEN}"),
        Step("Ringing"),
        Step("AGI", "agi://127.0.0.1:4573/caller-lookup,${EXTEN}"),
        Step("ExecIf", '$["${AGISTATUS}" != "SUCCESS"]?Log(WARNING,caller-lookup failed)'),
        Step("Stasis", "ledgerline"),
    ),
}

_VARIABLE = re.compile(r"\$\{([^{}]+)\}")
_WAITS_FOREVER = frozenset({"Milliwatt", "Echo", "MusicOnHold", "Wait", "Playtones"})


def substitute(text: str, channel: Channel) -> str:
    """`${EXTEN}`, `${CALLERID(all)}` and channel variables, as pbx_substitute_variables."""
    return _VARIABLE.sub(lambda match: lookup(channel, match[1]) or "", text)


def lookup(channel: Channel, name: str) -> str | None:
    """A variable or the few dialplan functions Ledgerline reads."""
    caller = channel.caller
    builtins = {
        "EXTEN": channel.exten,
        "CONTEXT": channel.context,
        "PRIORITY": str(channel.priority),
        "UNIQUEID": channel.id,
        "CHANNEL": channel.name,
        "CHANNEL(name)": channel.name,
        "CHANNEL(language)": channel.language,
        "CALLERID(num)": caller.number,
        "CALLERID(name)": caller.name,
        "CALLERID(all)": f'"{caller.name}" <{caller.number}>' if caller.name else caller.number,
    }
    if name in builtins:
        return builtins[name]
    return channel.variables.get(name)


def execute(
    ast: Asterisk,
    channel: Channel,
    priority: int,
    step: Step,
    *,
    agi_variables: Mapping[str, str],
    stasis_args: Sequence[str] = (),
    stasis_app: str | None = None,
) -> Outcome:
    """Run one priority on `channel`: ChannelDialplan, then the application's effect."""
    data = substitute(step.data, channel)
    if step.app == "Stasis":
        app, *args = data.split(",") if data else [""]
        data = ",".join([stasis_app or app, *args, *stasis_args])
    ast.dialplan_step(channel, priority, step.app, data)
    if step.app == "Answer":
        ast.answer(channel)
        return "wait_media"
    if step.app == "Ringing":
        peer = ast.peer(channel)
        if peer is not None:
            ast.ringing(peer)
        return "next"
    if step.app in ("AGI", "Set"):
        assignments = dict(step.sets)
        if step.app == "Set" and "=" in data:
            name, _, value = data.partition("=")
            assignments[name] = value
        if step.app == "AGI":
            assignments.update(agi_variables)
            assignments["AGISTATUS"] = "SUCCESS"
        for name, value in assignments.items():
            ast.set_variable(channel, name, value)
        return "next"
    if step.app == "Stasis":
        app, *args = data.split(",")
        return "stasis" if ast.enter_stasis(channel, app, args) else "stasis_failed"
    if step.app == "Hangup":
        ast.hangup(channel, NORMAL_CLEARING, by_ari=False)
        return "stop"
    return "stop" if step.app in _WAITS_FOREVER else "next"
