"""Keeps the call flow's state (ACD plus channel map) in the database between restarts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text, bindparam, cast, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pbx.db.database import Database
from pbx.db.models import AcdSnapshot
from pbx.db.types import utcnow


class SnapshotStore:
    def __init__(self, database: Database, node: str) -> None:
        self._database = database
        self.node = node  # one snapshot per Asterisk node (ARI connection)

    async def load(self) -> dict[str, Any] | None:
        async with self._database.system_session() as session:
            state = await session.scalar(
                select(AcdSnapshot.state).where(AcdSnapshot.node == self.node)
            )
            return dict(state) if state is not None else None

    async def save(self, state: str) -> None:
        """One upsert of the state as JSON text (`FlowState.to_json`: serialised here, the
        whole document would be again each time): the previous snapshot (hundreds of KB
        with many agents) is never read back just to be replaced."""
        if self._database.dialect == "postgresql":
            insert, document = pg_insert, cast(bindparam("state", state, Text), JSON)
        else:  # SQLite keeps JSON as text; a CAST there would make it a number
            insert, document = sqlite_insert, bindparam("state", state, Text)
        statement = insert(AcdSnapshot).values(node=self.node, state=document, saved_at=utcnow())
        statement = statement.on_conflict_do_update(
            index_elements=[AcdSnapshot.node],
            set_={"state": statement.excluded.state, "saved_at": statement.excluded.saved_at},
        )
        async with self._database.system_session() as session, session.begin():
            await session.execute(statement)
