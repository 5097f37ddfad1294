"""Who may play a recording, how it streams, and the legal holds and retention around it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import select

from pbx.db.models import AuditEntry, Call, Recording
from recordings.local_store import LocalFolderStore
from tests.http.conftest import Site, signed_in
from tests.http.support import PREFIX

AUDIO = bytes(range(256)) * 40  # 10,240 bytes standing in for an Opus file


async def stored_recording(site: Site, store: LocalFolderStore, agent_id: int, tmp_path: Path,
                           status: str = "stored") -> int:  # fmt: skip
    source = tmp_path / "call.opus"
    source.write_bytes(AUDIO)
    key = "ofek/2026/11/30/1.opus"
    await store.put(key, source, content_type="audio/ogg",
                    sha256=hashlib.sha256(AUDIO).hexdigest(), metadata={})  # fmt: skip
    world = site.world
    async with world.database.tenant_session(world.tenant_id) as session, session.begin():
        call = Call(channel_id="c-1", caller_raw="0501234567", match="none", agent_id=agent_id)
        session.add(call)
        await session.flush()
        recording = Recording(
            call_id=call.id, agent_id=agent_id, asterisk_name="ledgerline-c1", format="opus",
            content_type="audio/ogg", status=status, object_key=key, storage="local",
            size_bytes=len(AUDIO), started_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(recording)
        await session.flush()
        return recording.id


async def test_supervisors_play_any_recording_agents_only_their_own_and_only_if_allowed(
    site: Site, tmp_path: Path
) -> None:
    store = LocalFolderStore(tmp_path / "store")
    site.context.recordings = store
    dana = await site.user("dana", "agent")
    await site.user("avi", "agent")
    await site.user("noa", "supervisor")
    recording = await stored_recording(site, store, dana, tmp_path)
    clients = await signed_in(site, "dana", "avi", "noa")
    path = f"/recordings/{recording}/playback"
    try:
        assert (await clients["noa"].call("GET", path, token=""))[0] == 401
        status, link = await clients["noa"].call("GET", path)
        assert status == 200 and link["url"] == f"{PREFIX}/recordings/{recording}/audio"
        assert (await clients["dana"].call("GET", path))[0] == 403  # by default, not agents
        site.context.agents_play_own = True
        assert (await clients["dana"].call("GET", path))[0] == 200
        assert (await clients["avi"].call("GET", path))[0] == 403  # not his call
    finally:
        for client in clients.values():
            await client.close()

    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        played = list(await session.scalars(
            select(AuditEntry.actor_label).where(AuditEntry.action == "recording.playback")
        ))  # fmt: skip
    assert played == ["supervisor:noa", "agent:dana"]


async def test_the_local_store_streams_the_audio_with_range_requests(
    site: Site, tmp_path: Path
) -> None:
    store = LocalFolderStore(tmp_path / "store")
    site.context.recordings = store
    await site.user("noa", "supervisor")
    recording = await stored_recording(site, store, await site.user("dana", "agent"), tmp_path)
    clients = await signed_in(site, "noa")
    url = f"{site.url}{PREFIX}/recordings/{recording}/audio"
    headers = {"Authorization": f"Bearer {clients['noa'].token}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url, headers=headers) as whole:
                assert whole.status == 200 and await whole.read() == AUDIO
                assert whole.headers["Content-Type"] == "audio/ogg"
            async with http.get(url, headers=headers | {"Range": "bytes=100-199"}) as part:
                assert part.status == 206 and await part.read() == AUDIO[100:200]
            async with http.get(url) as anonymous:
                assert anonymous.status == 401
    finally:
        await clients["noa"].close()


async def test_a_recording_not_stored_yet_or_purged_cannot_be_played(
    site: Site, tmp_path: Path
) -> None:
    store = LocalFolderStore(tmp_path / "store")
    site.context.recordings = store
    await site.user("noa", "supervisor")
    dana = await site.user("dana", "agent")
    recording = await stored_recording(site, store, dana, tmp_path, status="pending")
    clients = await signed_in(site, "noa")
    try:
        assert (await clients["noa"].call("GET", f"/recordings/{recording}/playback"))[0] == 409
        database, tenant = site.world.database, site.world.tenant_id
        async with database.tenant_session(tenant) as session, session.begin():
            row = await session.get(Recording, recording)
            assert row is not None
            row.status = "purged"
        assert (await clients["noa"].call("GET", f"/recordings/{recording}/playback"))[0] == 410
        assert (await clients["noa"].call("GET", "/recordings/999999/playback"))[0] == 404
    finally:
        await clients["noa"].close()


async def test_supervisors_place_and_release_legal_holds_and_admins_set_retention(
    site: Site, tmp_path: Path
) -> None:
    store = LocalFolderStore(tmp_path / "store")
    site.context.recordings = store
    dana = await site.user("dana", "agent")
    await site.user("noa", "supervisor")
    await site.user("ari", "admin")
    recording = await stored_recording(site, store, dana, tmp_path)
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        row = await session.get(Recording, recording)
        assert row is not None
        call_id = row.call_id
    clients = await signed_in(site, "dana", "noa", "ari")
    hold = {"call_id": call_id, "reason": "customer complaint 4471"}
    try:
        assert (await clients["dana"].call("POST", "/legal-holds", hold))[0] == 403
        status, placed = await clients["noa"].call("POST", "/legal-holds", hold)
        assert status == 201 and placed["call_id"] == call_id
        status, listed = await clients["noa"].call("GET", "/legal-holds")
        assert [h["id"] for h in listed["items"]] == [placed["id"]]
        both = {"call_id": call_id, "customer_id": 1, "reason": "x" * 5}
        assert (await clients["noa"].call("POST", "/legal-holds", both))[0] == 422
        assert (await clients["noa"].call("DELETE", f"/legal-holds/{placed['id']}"))[0] == 204
        assert (await clients["noa"].call("DELETE", f"/legal-holds/{placed['id']}"))[0] == 409

        assert (await clients["noa"].call("PUT", "/admin/retention", {"days": 30}))[0] == 403
        assert (await clients["ari"].call("PUT", "/admin/retention", {"days": 30}))[0] == 200
        assert (await clients["ari"].call("GET", "/admin/retention"))[1] == {"days": 30}
        assert (await clients["ari"].call("PUT", "/admin/retention", {"days": 0}))[0] == 422
    finally:
        for client in clients.values():
            await client.close()
