"""Builders for the recordings' database tests, and an in-memory object store (a fake of our
own port, `recordings.store.ObjectStore`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pbx.auth.roles import Principal, Role
from pbx.db.database import Database
from pbx.db.models import Call, Recording, User
from recordings.store import StoredObject, StoreError, StoreUnavailable
from tests.factories import make_customer, make_tenant

NOW = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
_channels = itertools.count(1)
_numbers = itertools.count(1)


async def make_centre(database: Database, slug: str = "ofek") -> int:
    return await make_tenant(database, slug, "GB", "GBP", [f"+44207946{next(_numbers):04d}"])


async def make_call(database: Database, tenant_id: int, *, customer_id: int | None = None) -> int:
    channel = f"chan-{next(_channels)}"
    async with database.tenant_session(tenant_id) as session, session.begin():
        call = Call(channel_id=channel, caller_raw="+447700900123", match="none",
                    customer_id=customer_id, arrived_at=NOW)  # fmt: skip
        session.add(call)
        await session.flush()
        return call.id


async def make_recording(database: Database, tenant_id: int, call_id: int, **fields: Any) -> int:
    """A recording row; `fields` override the defaults (a pending WAV)."""
    values: dict[str, Any] = {"format": "wav", "status": "pending"} | fields
    async with database.tenant_session(tenant_id) as session, session.begin():
        recording = Recording(call_id=call_id, **values)
        session.add(recording)
        await session.flush()
        return recording.id


async def make_stored_recording(
    database: Database,
    tenant_id: int,
    *,
    expires_at: datetime | None,
    customer_id: int | None = None,
    call_customer_id: int | None = None,
) -> int:
    call_id = await make_call(database, tenant_id, customer_id=call_customer_id)
    return await make_recording(
        database, tenant_id, call_id,
        status="stored", storage="local", object_key=f"t{tenant_id}/2026/03/02/{call_id}.ogg",
        customer_id=customer_id, stored_at=NOW, expires_at=expires_at,
    )  # fmt: skip


async def make_customer_in(database: Database, tenant_id: int, ref: str = "C-1") -> int:
    return await make_customer(database, tenant_id, ref, "Dana Levi", [])


async def make_admin(database: Database, tenant_id: int, username: str = "ada") -> Principal:
    async with database.tenant_session(tenant_id) as session, session.begin():
        user = User(username=username, display_name=username.title(), role="admin")
        session.add(user)
        await session.flush()
        return Principal(user.id, tenant_id, username, Role.ADMIN)


async def recording(database: Database, tenant_id: int, recording_id: int) -> Recording:
    async with database.tenant_session(tenant_id) as session:
        found = await session.get(Recording, recording_id)
        assert found is not None
        return found


class MemoryStore:
    """Objects in a dict. `unavailable_after` deletes succeed, then the store is down;
    keys in `refused` are refused for good."""

    name = "local"

    def __init__(self, keys: Iterable[str] = (), *, unavailable_after: int | None = None) -> None:
        self.objects: dict[str, bytes] = dict.fromkeys(keys, b"audio")
        self.unavailable_after = unavailable_after
        self.refused: set[str] = set()
        self.deleted: list[str] = []

    async def put(
        self,
        key: str,
        source: Path,
        *,
        content_type: str,
        sha256: str,
        metadata: Mapping[str, str],
    ) -> None:
        self.objects[key] = sha256.encode()  # the bytes do not matter to these tests

    async def stat(self, key: str) -> StoredObject | None:
        return None  # not needed by these tests

    async def delete(self, key: str) -> None:
        if self.unavailable_after is not None and len(self.deleted) >= self.unavailable_after:
            raise StoreUnavailable("the store did not answer")
        if key in self.refused:
            raise StoreError("access denied")
        self.objects.pop(key, None)
        self.deleted.append(key)

    async def playback_url(self, key: str, *, expires_in: int) -> str | None:
        return None
