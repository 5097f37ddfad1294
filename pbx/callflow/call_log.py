"""The call log (CDR) as the call flow writes it: one row per call, opened on arrival and
updated as the call is queued, offered, answered and ended. Each write is one statement:
this is on the path of every call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

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
        row = Call(
            channel_id=channel_id, caller_raw=caller_raw[:80], caller_number=caller_number,
            dialed_number=dialed_number, match=match, customer_id=customer_id,
            priority=priority, arrived_at=arrived_at, direction=direction,
        )  # fmt: skip
        try:
            async with self._database.tenant_session(tenant_id) as session, session.begin():
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            async with self._database.tenant_reader(tenant_id) as session:
                existing = await session.scalar(
                    select(Call.id).where(Call.channel_id == channel_id)
                )
            if existing is None:
                raise
            return existing

    async def update(self, tenant_id: int, record_id: int, **fields: Any) -> None:
        """Set columns of one call; `offered_at` keeps the first offer."""
        values: dict[str, Any] = dict(fields)
        if "offered_at" in values:
            values["offered_at"] = func.coalesce(Call.offered_at, values["offered_at"])
        async with self._database.tenant_session(tenant_id) as session, session.begin():
            await session.execute(
                update(Call).where(Call.id == record_id).values(**values),
                execution_options={"synchronize_session": False},
            )
