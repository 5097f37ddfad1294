"""The people and the clock around the simulated Asterisk: scripted callers and agents'
phones, the dialplan as it runs in time, DTMF as it is paced, media that takes time.

Everything here waits and then calls the pure model, so the model's event order is the
order Asterisk produces; only the gaps between events come from here (see `Timing`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbx.simulator.ari import dialplan, media, recording
from pbx.simulator.ari.state import NORMAL_CLEARING, Channel, LiveRecording, Playback

if TYPE_CHECKING:
    from pbx.simulator.ari.simulator import AsteriskSimulator


POLL = 0.05  # how often a waiting task looks whether the call moved on without it


@dataclass(frozen=True)
class Timing:
    """How long things take. Asterisk's own values by default; tests shrink them."""

    media_wait: float = 0.5  # Answer() waits up to 500 ms for media (so does a bridge recorder)
    playback: float = 1.0  # one media item of a playback
    dtmf_scale: float = 1.0  # multiplies DTMF durations and gaps (before/between/after)
    # Added to every REST request, as the network and a busy Asterisk on another host add.
    rest_delay: float = 0.0


@dataclass
class Agent:
    """An agent's phone, as the endpoint ARI dials: how and when it answers."""

    endpoint: str
    answer_after: float | None = 1.0  # None: rings until the originate times out
    reject: bool = False  # declines at once (cause 21)
    busy: bool = False  # busy at once (cause 17)
    silent: bool = False  # answers but never sends audio
    channel_ids: list[str] = field(default_factory=list)  # the legs ARI placed to it


class Call:
    """A scripted caller on an incoming call: what they hear, and what they do."""

    def __init__(self, sim: AsteriskSimulator, channel: Channel, *, failed: bool) -> None:
        self._sim = sim
        self.channel = channel
        self.failed = failed  # Stasis() found no app: the call never reached Ledgerline

    @property
    def channel_id(self) -> str:
        return self.channel.id

    @property
    def state(self) -> str:
        return "Hungup" if self.channel.gone else self.channel.state

    @property
    def heard(self) -> list[str]:
        """Media URIs and `moh:<class>` started towards the caller, in order."""
        return list(self.channel.heard)

    @property
    def muted(self) -> frozenset[str]:
        return frozenset(self.channel.muted)

    @property
    def received_dtmf(self) -> str:
        """Digits Asterisk sent towards the caller (ARI /dtmf or through a bridge)."""
        return "".join(self.channel.digits_sent)

    @property
    def variables(self) -> dict[str, str]:
        return dict(self.channel.variables)

    async def press(self, digits: str, *, duration_ms: int = 100, gap_ms: int = 100) -> None:
        """The caller presses keys: one ChannelDtmfReceived per digit, at the digit's end."""
        scale = self._sim.timing.dtmf_scale
        for digit in digits:
            await asyncio.sleep(duration_ms / 1000 * scale)
            media.dtmf_received(self._sim.model, self.channel, digit, duration_ms)
            await asyncio.sleep(gap_ms / 1000 * scale)

    async def hangup(self, cause: int = NORMAL_CLEARING) -> None:
        """The caller hangs up (a BYE from the trunk)."""
        self._sim.model.hangup(self.channel, cause, by_ari=False)


async def ring_agent(
    sim: AsteriskSimulator,
    channel: Channel,
    agent: Agent,
    timeout: float | None,  # noqa: ASYNC109 - ARI's originate timeout, not an I/O limit
) -> None:
    """The phone behind an ARI-dialled leg: refuse, or ring then answer (or never)."""
    model = sim.model
    agent.channel_ids.append(channel.id)
    channel.talks = not agent.silent
    if agent.busy:
        model.dial_failed(channel, 17, busy_signal=True)
        return
    if agent.reject:
        model.dial_failed(channel, 21, busy_signal=False)
        return
    model.ringing(channel)
    wait = agent.answer_after
    if wait is None or (timeout is not None and wait >= timeout):
        await ring_out(sim, channel, timeout)
        return
    await asyncio.sleep(wait)
    if channel.dialing and not channel.gone:
        model.far_end_answered(channel)


async def ring_out(
    sim: AsteriskSimulator,
    channel: Channel,
    timeout: float | None,  # noqa: ASYNC109 - ARI's originate timeout, not an I/O limit
) -> None:
    """ast_dial's global timeout: nobody answered in time (None: no timeout at all).
    Polls, so that the task ends as soon as the leg is answered or hung up."""
    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
    while channel.dialing and not channel.gone:
        remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
        if remaining is not None and remaining <= 0:
            sim.model.dial_timed_out(channel)
            return
        await asyncio.sleep(POLL if remaining is None else min(POLL, remaining))


async def run_dialplan(
    sim: AsteriskSimulator,
    channel: Channel,
    *,
    start: int = 1,
    agi_variables: Mapping[str, str] | None = None,
    stasis_app: str | None = None,
    stasis_args: Sequence[str] = (),
) -> dialplan.Outcome:
    """Run the channel's context from `start` until an application keeps it (Stasis...)."""
    steps = sim.dialplan.get(channel.context, ())
    for priority in range(start, len(steps) + 1):
        if channel.gone:
            return "stop"
        outcome = dialplan.execute(
            sim.model,
            channel,
            priority,
            steps[priority - 1],
            agi_variables=agi_variables or {},
            stasis_app=stasis_app,
            stasis_args=stasis_args,
        )
        if outcome == "wait_media":
            await asyncio.sleep(sim.timing.media_wait)
        elif outcome != "next":
            return outcome
    # autofallthrough=yes: an extension that runs out of priorities hangs up
    sim.model.hangup(channel, NORMAL_CLEARING, by_ari=False)
    return "stop"


async def send_digits(
    sim: AsteriskSimulator,
    channel: Channel,
    digits: str,
    *,
    before: int,
    between: int,
    duration: int,
    after: int,
) -> None:
    """ast_dtmf_stream: wait `before`, each digit lasts `duration` then `between`; a comma
    is a half-second pause."""
    scale = sim.timing.dtmf_scale / 1000
    await asyncio.sleep(before * scale)
    for digit in digits:
        if digit == ",":
            await asyncio.sleep(500 * scale)
            continue
        await asyncio.sleep(duration * scale)
        media.send_dtmf(sim.model, channel, digit, duration)
        await asyncio.sleep(between * scale)
    await asyncio.sleep(after * scale)


async def run_playback(sim: AsteriskSimulator, playback: Playback) -> None:
    media.start_playback(sim.model, playback)
    while playback.state in ("playing", "paused"):
        await asyncio.sleep(sim.timing.playback)
        if not media.next_media(sim.model, playback):
            return


async def run_recording(sim: AsteriskSimulator, live: LiveRecording, delay: float) -> None:
    """The recorder attaches after `delay`, and stops by itself at maxDurationSeconds."""
    await asyncio.sleep(delay)
    recording.begin(sim.model, live)
    if live.max_duration <= 0:
        return
    deadline = asyncio.get_running_loop().time() + live.max_duration
    while sim.model.recordings.get(live.name) is live:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            recording.finish(sim.model, live, "done")
            return
        await asyncio.sleep(min(POLL, remaining))
