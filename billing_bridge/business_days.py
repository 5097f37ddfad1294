"""Today in a business's own time zone: an invoice is overdue from the day after its due date
there (as the caller lookup counts it), so every screen-pop and payment default must use the
same day, not the server's UTC date."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import Tenant

_UTC = ZoneInfo("UTC")


async def zone_of(database: Database, tenant_id: int) -> ZoneInfo:
    """The business's time zone (UTC if it has none Ledgerline knows)."""
    async with database.system_session() as session:
        name = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    try:
        return ZoneInfo(name) if name else _UTC
    except (ValueError, KeyError):
        return _UTC


async def business_today(database: Database, tenant_id: int, now: datetime) -> date:
    return now.astimezone(await zone_of(database, tenant_id)).date()


class BusinessDays:
    """`business_today` with each business's zone kept for `ttl_s` (a screen-pop per call
    must not cost a query more; a zone changed by an admin is used within a minute)."""

    def __init__(
        self, database: Database, clock: Callable[[], datetime], ttl_s: float = 60.0
    ) -> None:
        self._database, self._clock, self._ttl_s = database, clock, ttl_s
        self._zones: dict[int, tuple[float, ZoneInfo]] = {}

    async def today(self, tenant_id: int) -> date:
        held = self._zones.get(tenant_id)
        if held is None or held[0] < time.monotonic():
            if len(self._zones) > 10_000:
                self._zones.clear()
            zone = await zone_of(self._database, tenant_id)
            held = (time.monotonic() + self._ttl_s, zone)
            self._zones[tenant_id] = held
        return self._clock().astimezone(held[1]).date()
