"""The simulator's sound files: `GET /sounds`, playbacks of missing files failing as Asterisk
22 fails them, the channel's language choosing the file, `CHANNEL(language)` set over ARI."""

from __future__ import annotations

import pytest

from pbx.ari import AriClient
from pbx.ari.errors import AriNotFound
from pbx.simulator.ari import AsteriskSimulator
from tests.simulator.test_ari_simulator import Ari, _bridge_with
from tests.simulator.test_ari_spec import MODELS, OPERATIONS, check_value

DID, CALLER = "+97235550100", "+972502345678"
# The Playback model's `state` values in api-docs (playbacks.json)
PLAYBACK_STATES = frozenset(
    MODELS["Playback"]["properties"]["state"]["allowableValues"]["values"]
)


async def test_sounds_lists_the_installed_files_per_language_as_the_sound_model_says(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.sounds.install("he", ["ledgerline-card-number"])
    sim.sounds.install("en", ["ledgerline-card-number", "ledgerline-card-cvc"])

    status, sounds = await ari.get("/sounds")
    _, hebrew = await ari.get("/sounds", lang="he")
    _, one = await ari.get("/sounds/ledgerline-card-number")

    assert status == 200
    check_value(sounds, OPERATIONS[("GET", "/sounds")]["responseClass"], "GET /sounds")
    by_id = {sound["id"]: sound for sound in sounds}
    assert by_id["ledgerline-card-number"]["formats"] == [
        {"language": "en", "format": "wav"}, {"language": "he", "format": "wav"}
    ]
    assert by_id["beep"]["formats"] == [{"language": "en", "format": "gsm"}]
    assert [sound["id"] for sound in hebrew] == ["ledgerline-card-number"]
    assert one == by_id["ledgerline-card-number"]
    assert (await ari.get("/sounds/ledgerline-nothing"))[0] == 404


async def test_the_client_reads_sounds_as_typed_snapshots(sim: AsteriskSimulator) -> None:
    sim.sounds.install("lt", ["ledgerline-card-number"])
    async with AriClient(sim.url, "ledgerline", "secret", "ledgerline") as client:
        sounds = await client.sounds(lang="lt")
        card = await client.get_sound("ledgerline-card-number")
        with pytest.raises(AriNotFound):
            await client.get_sound("ledgerline-nothing")

    assert [sound.id for sound in sounds] == ["ledgerline-card-number"]
    assert card.in_language("lt") and not card.in_language("he")
    assert [(pair.language, pair.format) for pair in card.formats] == [("lt", "wav")]
    assert ("GET", "/sounds", {"lang": "lt"}, 200) in sim.requests


async def test_a_missing_file_starts_then_finishes_failed_and_asterisk_warns(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.sounds.remove("ledgerline-mandate-consent")
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await ari.post(f"/channels/{call.channel_id}/answer")

    status, playback = await ari.post(
        f"/channels/{call.channel_id}/play", media="sound:ledgerline-mandate-consent"
    )
    finished = await events.wait_for("PlaybackFinished")

    assert status == 201 and playback["state"] == "queued"
    kinds = [e["type"] for e in events.events if "playback" in e]
    assert kinds == ["PlaybackStarted", "PlaybackFinished"]
    assert finished["playback"]["state"] == "failed"
    assert finished["playback"]["media_uri"] == "sound:ledgerline-mandate-consent"
    assert {e["playback"]["state"] for e in events.events if "playback" in e} <= PLAYBACK_STATES
    assert sim.model.warnings == [
        f"{call.channel_id}: Playback failed for sound:ledgerline-mandate-consent"
    ]


async def test_a_list_whose_middle_item_is_missing_fails_it_and_still_ends_done(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.sounds.remove("two")
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    bridge = await _bridge_with(ari, call.channel_id)

    await ari.post(f"/bridges/{bridge}/play", media="sound:one,sound:two,sound:three")
    await events.wait_for("PlaybackFinished", lambda e: e["playback"]["state"] == "done")

    seen = [(e["type"], e["playback"]["state"], e["playback"]["media_uri"])
            for e in events.events if "playback" in e]  # fmt: skip
    assert seen == [
        ("PlaybackStarted", "playing", "sound:one"),
        ("PlaybackContinuing", "playing", "sound:two"),
        ("PlaybackFinished", "failed", "sound:two"),
        ("PlaybackStarted", "playing", "sound:three"),
        ("PlaybackFinished", "done", "sound:three"),
    ]


async def test_every_playback_state_on_the_wire_is_one_the_ari_spec_allows(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.sounds.remove("gone")
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    channel = call.channel_id
    await ari.post(f"/channels/{channel}/answer")

    await ari.post(f"/channels/{channel}/play", media="sound:a,sound:gone,sound:b")
    await ari.post(f"/channels/{channel}/play", media="sound:c", playbackId="stopped")
    await ari.post(f"/channels/{channel}/play", media="sound:d", playbackId="queued")
    await ari.delete("/playbacks/queued")  # before it started: canceled, "done" on the wire
    await events.wait_for("PlaybackStarted", lambda e: e["playback"]["id"] == "stopped")
    await ari.delete("/playbacks/stopped")
    await ari.post(f"/channels/{channel}/play", media="sound:e", playbackId="cut")
    await events.wait_for("PlaybackStarted", lambda e: e["playback"]["id"] == "cut")
    await call.hangup()  # cut off mid-play: failed, as Asterisk reports it
    await events.wait_for("PlaybackFinished", lambda e: e["playback"]["id"] == "cut")

    finished = {e["playback"]["id"]: e["playback"]["state"]
                for e in events.events if e["type"] == "PlaybackFinished"}  # fmt: skip
    assert (finished["queued"], finished["stopped"], finished["cut"]) == ("done", "done", "failed")
    assert {e["playback"]["state"] for e in events.events if "playback" in e} <= PLAYBACK_STATES


async def test_the_channel_language_picks_the_file_and_falls_back_to_english(
    sim: AsteriskSimulator, ari: Ari
) -> None:
    sim.sounds.install("he", ["ledgerline-card-number"])
    sim.sounds.install("en", ["ledgerline-card-cvc"])
    events = await ari.events()
    call = await sim.incoming_call(DID, CALLER)
    await ari.post(f"/channels/{call.channel_id}/answer")

    status, _ = await ari.post(
        f"/channels/{call.channel_id}/variable", variable="CHANNEL(language)", value="lt"
    )
    _, channel = await ari.get(f"/channels/{call.channel_id}")
    outcomes = []
    for media, lang in [("ledgerline-card-number", None), ("ledgerline-card-number", "he"),
                        ("ledgerline-card-cvc", None)]:  # fmt: skip
        params = {"media": f"sound:{media}", **({"lang": lang} if lang else {})}
        _, playback = await ari.post(f"/channels/{call.channel_id}/play", **params)
        finished = await events.wait_for(
            "PlaybackFinished", lambda e, i=playback["id"]: e["playback"]["id"] == i
        )
        outcomes.append((finished["playback"]["language"], finished["playback"]["state"]))

    assert status == 204 and channel["language"] == "lt"
    assert outcomes == [("lt", "failed"), ("he", "done"), ("lt", "done")]
    assert not [e for e in events.events if e["type"] == "ChannelVarset"
                and e["variable"] == "CHANNEL(language)"]  # fmt: skip
    assert ("POST", f"/channels/{call.channel_id}/variable",
            {"variable": "CHANNEL(language)", "value": "lt"}, 204) in sim.requests  # fmt: skip


async def test_every_sound_exists_until_a_test_says_otherwise(sim: AsteriskSimulator) -> None:
    assert sim.sounds.exists("ledgerline-anything", "he")
    sim.sounds.remove("ledgerline-anything", "he")
    assert sim.sounds.exists("ledgerline-anything", "he")  # the English file plays instead
    sim.sounds.remove("ledgerline-anything")
    assert not sim.sounds.exists("ledgerline-anything", "he_IL")
    assert sim.sounds.exists("ledgerline-other", "he_IL")
