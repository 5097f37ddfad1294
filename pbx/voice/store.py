"""The businesses whose consent scripts are built: their slugs and names, from the database."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import Tenant
from pbx.voice.catalog import Business


class UnknownBusiness(LookupError):
    pass


async def businesses(database: Database, slug: str | None = None) -> tuple[Business, ...]:
    """Every business, or the one `slug` names (UnknownBusiness if none does)."""
    query = select(Tenant.slug, Tenant.name).order_by(Tenant.slug)
    if slug is not None:
        query = query.where(Tenant.slug == slug)
    async with database.system_session() as session:
        found = tuple(Business(row.slug, row.name) for row in await session.execute(query))
    if slug is not None and not found:
        raise UnknownBusiness(f"no business {slug!r} (ledgerline tenant list)")
    return found
