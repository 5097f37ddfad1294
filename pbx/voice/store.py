"""The businesses whose consent scripts are built (slugs and names), and the languages their
callers hear, from the database."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.database import Database
from pbx.db.models import InboundRoute, Tenant
from pbx.voice.catalog import Business

DEFAULT_LANGUAGE = "en"  # what a business without a language of its own plays


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


async def languages_in_use(database: Database) -> dict[str, tuple[Business, ...]]:
    """Each language callers hear (a business's, "en" when it has none, and its numbers'
    own), with the businesses whose callers hear it."""
    async with database.system_session() as session:
        tenants = (await session.execute(
            select(Tenant.id, Tenant.slug, Tenant.name, Tenant.language).order_by(Tenant.slug)
        )).all()  # fmt: skip
        routes = (await session.execute(
            select(InboundRoute.tenant_id, InboundRoute.language)
            .where(InboundRoute.language.is_not(None)).distinct()
        )).all()  # fmt: skip
    by_id = {row.id: Business(row.slug, row.name) for row in tenants}
    heard: dict[str, dict[str, Business]] = {}
    for row in tenants:
        heard.setdefault(row.language or DEFAULT_LANGUAGE, {})[row.slug] = by_id[row.id]
    for route in routes:
        business = by_id.get(route.tenant_id)
        if business is not None:
            heard.setdefault(route.language, {})[business.slug] = business
    return {language: tuple(found[slug] for slug in sorted(found))
            for language, found in sorted(heard.items())}  # fmt: skip
