"""Customer search matches the text as typed, on both databases."""

from __future__ import annotations

import pytest

from billing_bridge.customer_search import (
    SearchRefused,
    contains_pattern,
    search_customers,
    search_text,
)
from pbx.db.database import Database
from tests.factories import make_customer, make_tenant


@pytest.fixture
async def tenant(database: Database) -> int:
    tenant_id = await make_tenant(database, "ofek", "IL", "ILS", ["+97235550000"])
    for ref, name in (
        ("C-1", "Dana Levi"),
        ("C-2", "100% Pure Juice"),
        ("C-3", "a_b Holdings"),
        ("C-4", "axb Trading"),
        ("C-5", "Back\\slash Ltd"),
    ):
        await make_customer(database, tenant_id, ref, name, [])
    return tenant_id


async def found(database: Database, tenant: int, text: str) -> list[str]:
    async with database.tenant_autocommit(tenant) as session:
        return [hit.ref for hit in await search_customers(session, text)]


@pytest.mark.parametrize("text", ["%%", "__", "%_", "\\\\", "%\\%", "_%_"])
async def test_wildcards_typed_as_a_search_match_nobody_who_lacks_them(
    database: Database, tenant: int, text: str
) -> None:
    assert await found(database, tenant, text) == []


async def test_a_percent_sign_finds_the_name_that_has_one(database: Database, tenant: int) -> None:
    assert await found(database, tenant, "0% p") == ["C-2"]


async def test_an_underscore_matches_only_an_underscore(database: Database, tenant: int) -> None:
    assert await found(database, tenant, "a_b") == ["C-3"]


async def test_a_backslash_matches_only_a_backslash(database: Database, tenant: int) -> None:
    assert await found(database, tenant, "k\\s") == ["C-5"]


async def test_part_of_a_name_still_matches_in_any_case(database: Database, tenant: int) -> None:
    assert await found(database, tenant, "LEVI") == ["C-1"]


@pytest.mark.parametrize("text", ["\x00\x00", "Da\x00na", "Dana\nLevi", "x", "  a  ", "y" * 101])
def test_text_with_control_characters_or_of_a_wrong_length_is_refused(text: str) -> None:
    with pytest.raises(SearchRefused):
        search_text(text)


def test_the_pattern_escapes_every_wildcard_and_the_escape_itself() -> None:
    assert contains_pattern("5%_a\\b") == "%5\\%\\_a\\\\b%"


async def test_a_number_typed_in_national_form_is_read_in_the_searching_business_region(
    database: Database, tenant: int
) -> None:
    vilnius = await make_tenant(database, "vilnius", "LT", "EUR", ["+37052000000"])
    await make_customer(database, vilnius, "LT-1", "Jonas", ["+37061234567"])
    await make_customer(database, tenant, "IL-1", "Noa", ["+972545551234"])
    async with database.tenant_autocommit(vilnius) as session:
        assert [hit.ref for hit in await search_customers(session, "861234567")] == ["LT-1"]
    assert await found(database, tenant, "054-555-1234") == ["IL-1"]
    assert await found(database, tenant, "861234567") == []
