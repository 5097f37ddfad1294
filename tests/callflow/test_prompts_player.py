"""Play and wait: each prompt's outcome (done, failed, hung up, stopped) from the events of
a simulated Asterisk 22 that fails playbacks of missing files, with no waiter left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from pbx.ari import AriClient, AriConnection
from pbx.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    PlaybackFinished,
    StasisEnd,
)
from pbx.callflow.prompts_player import PlayOutcome, PromptsPlayer
from pbx.simulator.ari import AsteriskSimulator, Call, Timing
from tests.waiting import until

DID, CALLER = "+97235550100", "+972502345678"


@dataclass
class Line:
    sim: AsteriskSimulator
    client: AriClient
    player: PromptsPlayer

    async def caller(self) -> Call:
        call = await self.sim.incoming_call(DID, CALLER)
        await self.client.answer(call.channel_id)
        return call


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    sim = AsteriskSimulator(timing=Timing(media_wait=0.01, playback=0.05, dtmf_scale=0.02))
    await sim.start()
    client = AriClient(sim.url, "ledgerline", "secret", "ledgerline")
    connection = AriConnection(client, reconnect_initial=0.05, reconnect_max=0.2)
    player = PromptsPlayer(client)

    async def on_event(event: Event) -> None:  # as the call flow hands them over
        match event:
            case PlaybackFinished():
                player.finished(event.playback.id, event.playback.state)
            case ChannelHangupRequest() | StasisEnd() | ChannelDestroyed():
                player.channel_gone(event.channel.id)

    connection.on_event(on_event, PlaybackFinished, ChannelHangupRequest, StasisEnd,
                        ChannelDestroyed)  # fmt: skip
    await connection.start()
    await connection.wait_connected(5.0)
    yield Line(sim, client, player)
    await connection.stop()
    await client.close()
    await sim.stop()


async def test_a_prompt_played_to_its_end_is_done(line: Line) -> None:
    call = await line.caller()

    outcome = await line.player.play(call.channel_id, "sound:ledgerline-card-number")

    assert outcome is PlayOutcome.DONE and outcome.heard
    assert call.heard == ["sound:ledgerline-card-number"]
    assert line.player.waiting == 0


async def test_a_prompt_whose_file_is_missing_is_failed(line: Line) -> None:
    line.sim.sounds.remove("ledgerline-card-number")
    call = await line.caller()

    outcome = await line.player.play(call.channel_id, "sound:ledgerline-card-number")

    assert outcome is PlayOutcome.FAILED and not outcome.heard
    assert line.player.waiting == 0


async def test_the_language_decides_whether_the_file_is_there(line: Line) -> None:
    line.sim.sounds.install("he", ["ledgerline-card-number"])
    call = await line.caller()

    hebrew = await line.player.play(call.channel_id, "sound:ledgerline-card-number", lang="he")
    english = await line.player.play(call.channel_id, "sound:ledgerline-card-number")

    assert (hebrew, english) == (PlayOutcome.DONE, PlayOutcome.FAILED)


async def test_a_list_is_failed_at_its_missing_middle_item_and_play_each_stops_there(
    line: Line,
) -> None:
    line.sim.sounds.remove("two")
    call = await line.caller()

    as_a_list = await line.player.play(call.channel_id, ("sound:one", "sound:two", "sound:three"))
    one_by_one = await line.player.play_each(
        call.channel_id, ("sound:one", "sound:two", "sound:three")
    )

    # Asterisk carries on after the missing item and ends the list `done`; the first
    # PlaybackFinished (`failed`) is what counts
    assert as_a_list is PlayOutcome.FAILED
    assert one_by_one is PlayOutcome.FAILED
    assert call.heard.count("sound:three") == 1  # the list's; play_each stopped before it


async def test_play_and_wait_resolves_hung_up_when_the_caller_hangs_up_mid_prompt(
    line: Line,
) -> None:
    line.sim.timing = Timing(media_wait=0.01, playback=30.0, dtmf_scale=0.02)
    call = await line.caller()
    playing = asyncio.create_task(line.player.play(call.channel_id, "sound:ledgerline-consent"))
    await until(lambda: "sound:ledgerline-consent" in call.heard)

    await call.hangup()

    assert await asyncio.wait_for(playing, 5.0) is PlayOutcome.HUNG_UP
    assert line.player.waiting == 0


async def test_a_prompt_to_a_channel_already_gone_is_hung_up_at_once(line: Line) -> None:
    call = await line.caller()
    await call.hangup()

    assert await line.player.play(call.channel_id, "sound:beep") is PlayOutcome.HUNG_UP
    assert line.player.waiting == 0


async def test_a_stopped_prompt_is_stopped_not_done(line: Line) -> None:
    line.sim.timing = Timing(media_wait=0.01, playback=30.0, dtmf_scale=0.02)
    call = await line.caller()
    playing = asyncio.create_task(line.player.play(call.channel_id, "sound:ledgerline-consent"))
    await until(lambda: line.player.waiting == 1 and bool(line.sim.model.playbacks))

    await line.player.stop(call.channel_id)

    assert await asyncio.wait_for(playing, 5.0) is PlayOutcome.STOPPED
    assert line.player.waiting == 0


async def test_a_cancelled_wait_and_a_closed_player_leave_no_waiter(line: Line) -> None:
    line.sim.timing = Timing(media_wait=0.01, playback=30.0, dtmf_scale=0.02)
    call = await line.caller()
    cancelled = asyncio.create_task(line.player.play(call.channel_id, "sound:one"))
    closed = asyncio.create_task(line.player.play(call.channel_id, "sound:two"))
    await until(lambda: line.player.waiting == 2)

    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    line.player.close()

    assert await asyncio.wait_for(closed, 5.0) is PlayOutcome.STOPPED
    assert line.player.waiting == 0


async def test_after_a_reconnect_a_playback_asterisk_no_longer_has_does_not_count(
    line: Line,
) -> None:
    line.sim.timing = Timing(media_wait=0.01, playback=30.0, dtmf_scale=0.02)
    call = await line.caller()
    playing = asyncio.create_task(line.player.play(call.channel_id, "sound:one"))
    await until(lambda: bool(line.sim.model.playbacks))
    line.sim.model.playbacks.clear()  # it ended while no socket was there to say so

    await line.player.resync({call.channel_id})

    assert await asyncio.wait_for(playing, 5.0) is PlayOutcome.FAILED
    assert line.player.waiting == 0
