"""A business's first admin gets their email address where the business is made: with
`ledgerline tenant create --admin-email` or the platform API's `admin.email`. A bad address
is refused naming the field, and nothing is created."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pbx.cli import _parser
from pbx.db.models import AuditEntry, InboundNumber, Tenant, User
from pbx.settings import load_settings
from tests.platform.conftest import Platform

CREATE = ["tenant", "create", "acme", "--name", "Acme Energy", "--region", "IL",
          "--currency", "ILS", "--timezone", "Asia/Jerusalem", "--did", "+97237630100",
          "--admin", "dana"]  # fmt: skip
NEW = {"slug": "acme", "name": "Acme Energy", "region": "IL", "currency": "ILS",
       "timezone": "Asia/Jerusalem", "dids": ["+97237630100"],
       "admin": {"username": "dana", "display_name": "Dana Levi"}}  # fmt: skip


async def _in_process(platform: Platform, *argv: str) -> int:
    args = _parser().parse_args(list(argv))
    settings = load_settings(environ={"LEDGERLINE_DATABASE_URL": platform.database.url})
    return await args.handler(settings, args)


async def _admin(platform: Platform) -> tuple[str | None, dict[str, Any]]:
    async with platform.database.system_session() as session:
        email = await session.scalar(select(User.email).where(User.username == "dana"))
        details = await session.scalar(
            select(AuditEntry.details).where(AuditEntry.action == "agent.create"))  # fmt: skip
    return email, details or {}


async def _count(platform: Platform, model: Any) -> int:
    async with platform.database.system_session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_the_cli_gives_the_first_admin_their_address(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _in_process(platform, *CREATE, "--admin-email", "dana@acme.example") == 0
    email, audited = await _admin(platform)
    assert email == audited["email"] == "dana@acme.example"


async def test_without_the_option_the_first_admin_has_no_address(platform: Platform) -> None:
    assert await _in_process(platform, *CREATE) == 0
    assert (await _admin(platform))[0] is None


@pytest.mark.parametrize("address", ["dana", "dana@acme", "dana @acme.example",
                                     "dana@acme.example\u202e", ""])  # fmt: skip
async def test_a_bad_address_on_the_cli_is_a_clear_line_and_nothing_is_created(
    platform: Platform, capsys: pytest.CaptureFixture[str], address: str
) -> None:
    assert await _in_process(platform, *CREATE, "--admin-email", address) == 1
    assert "ledgerline: admin_email: " in capsys.readouterr().err
    assert [await _count(platform, model) for model in (Tenant, InboundNumber, User)] == [0, 0, 0]


async def test_the_platform_api_gives_the_first_admin_their_address(platform: Platform) -> None:
    api = platform.client(platform.token)
    admin = NEW["admin"] | {"email": "dana@acme.example"}
    status, _ = await api.call("POST", "/platform/tenants", NEW | {"admin": admin})
    await api.close()
    assert status == 201
    assert (await _admin(platform))[0] == "dana@acme.example"


@pytest.mark.parametrize("address", ["dana", "dana@acme", "a\x00@acme.example", "", 7])
async def test_a_bad_address_through_the_platform_api_is_a_422_and_nothing_is_created(
    platform: Platform, address: object
) -> None:
    api = platform.client(platform.token)
    admin = NEW["admin"] | {"email": address}
    status, error = await api.call("POST", "/platform/tenants", NEW | {"admin": admin})
    await api.close()
    assert status == 422
    fields = [d["field"] for d in error["error"]["details"]]
    assert fields in (["admin_email"], ["admin.email"])
    assert [await _count(platform, model) for model in (Tenant, InboundNumber, User)] == [0, 0, 0]
