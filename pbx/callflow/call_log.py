"""The call log (CDR) as the call flow writes it: one row per call, opened on arrival and
updated as the call is queued, offered, answered and ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import Call


class CallLog:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def open(
        self,
        tenant_id: int,
        *,
        channel_id: str,
        caller_raw: str,
        caller_number: str | None,
        dialed_number: str | None,
        match: str,
        customer_id: int | None,
        priority: int,
        arrived_at: datetime,
        direction: str = "inbound",
    ) -> int:
        """The call's row id. A call admitted again (this process restarted before saving its
        state) keeps the row it already has."""
        async with self._database.tenant_session(tenant_id) as session, session.begin():
            existing = await session.scalar(select(Call.id).where(Call.channel_id == channel_id))
            if existing is not None:
                return existing
            row = Call(
                channel_id=channel_id,
                caller_raw=caller_raw[:80],
                caller_number=caller_number,
                dialed_number=dialed_number,
                match=match,
                customer_id=customer_id,
                priority=priority,
                arrived_at=arrived_at,
                direction=direction,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def update(self, tenant_id: int, record_id: int, **fields: Any) -> None:
        """Set columns of one call; a column already set to a time is not moved later
        (`offered_at` stays the first offer)."""
        async with self._database.tenant_session(tenant_id) as session, session.begin():
            row = await session.get(Call, record_id)
            if row is None:
                return
            for name, value in fields.items():
                if name == "offered_at" and row.offered_at is not None:
                    continue
                setattr(row, name, value)
