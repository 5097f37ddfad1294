"""Keeps the call flow's state (ACD plus channel map) in the database between restarts."""

from __future__ import annotations

from typing import Any

from pbx.db.database import Database
from pbx.db.models import AcdSnapshot
from pbx.db.types import utcnow


class SnapshotStore:
    def __init__(self, database: Database, node: str) -> None:
        self._database = database
        self.node = node  # one snapshot per Asterisk node (ARI connection)

    async def load(self) -> dict[str, Any] | None:
        async with self._database.system_session() as session:
            row = await session.get(AcdSnapshot, self.node)
            return dict(row.state) if row is not None else None

    async def save(self, state: dict[str, Any]) -> None:
        async with self._database.system_session() as session, session.begin():
            row = await session.get(AcdSnapshot, self.node)
            if row is None:
                session.add(AcdSnapshot(node=self.node, state=state))
            else:
                row.state = state
                row.saved_at = utcnow()
