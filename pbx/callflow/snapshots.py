"""Keeps the call flow's state (ACD plus channel map) in the database between restarts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Insert, Text, bindparam, cast, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pbx.db.database import Database
from pbx.db.models import AcdSnapshot
from pbx.db.types import utcnow


class SnapshotStore:
    def __init__(self, database: Database, node: str) -> None:
        self._database = database
        self.node = node  # one snapshot per Asterisk node (ARI connection)
        self._upserts: dict[bool, Insert] = {}

    async def load(self) -> dict[str, Any] | None:
        async with self._database.system_session() as session:
            state = await session.scalar(
                select(AcdSnapshot.state).where(AcdSnapshot.node == self.node)
            )
            return dict(state) if state is not None else None

    async def newest_token(self) -> int:
        """The fencing token of the saved state (0 if none): a new lease is never given
        one at or below it."""
        async with self._database.system_session() as session:
            token = await session.scalar(
                select(AcdSnapshot.lease_token).where(AcdSnapshot.node == self.node)
            )
            return int(token or 0)

    async def save(self, state: str, token: int | None = None) -> bool:
        """One upsert of the state as JSON text (`FlowState.to_json`: serialised here, the
        whole document would be again each time): the previous snapshot (hundreds of KB
        with many agents) is never read back just to be replaced.

        Fenced by `token` (the owner's lease): the row is replaced only if its token is not
        newer, in the same statement, so an owner that stalled past its lease cannot
        overwrite its successor's state. False when refused. `None` (no lease: one process
        without Redis) writes and keeps the row's token."""
        values = {"node": self.node, "state": state, "saved_at": utcnow(), "token": token or 0}
        async with self._database.system_session() as session, session.begin():
            written = await session.scalar(self._upsert(fenced=token is not None), values)
        return written is not None

    def _upsert(self, *, fenced: bool) -> Insert:
        """The upsert, built once per kind (fenced or not) with its values as parameters:
        twice a second it is only executed, not put together and looked up again."""
        if fenced not in self._upserts:
            self._upserts[fenced] = _upsert(self._database.dialect, fenced=fenced)
        return self._upserts[fenced]


def _upsert(dialect: str, *, fenced: bool) -> Insert:
    if dialect == "postgresql":
        insert, document = pg_insert, cast(bindparam("state", type_=Text), JSON)
    else:  # SQLite keeps JSON as text; a CAST there would make it a number
        insert, document = sqlite_insert, bindparam("state", type_=Text)
    statement = insert(AcdSnapshot).values(
        node=bindparam("node"), state=document, saved_at=bindparam("saved_at"),
        lease_token=bindparam("token"),
    )  # fmt: skip
    changes: dict[str, Any] = {
        "state": statement.excluded.state, "saved_at": statement.excluded.saved_at
    }
    if not fenced:  # the row keeps its token
        statement = statement.on_conflict_do_update(index_elements=[AcdSnapshot.node], set_=changes)
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[AcdSnapshot.node],
            set_=changes | {"lease_token": statement.excluded.lease_token},
            where=AcdSnapshot.lease_token <= statement.excluded.lease_token,
        )
    return statement.returning(AcdSnapshot.node)
