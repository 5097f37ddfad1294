"""`ledgerline tenant ...` and `ledgerline platform token ...` from the operator's side: a
business made with the CLI takes its admin from the set-password link to a configured queue;
bad input is one clear line per problem, a non-zero exit, and nothing created."""

from __future__ import annotations

import getpass
from typing import Any

import pytest
from sqlalchemy import func, select

from pbx.cli import _parser
from pbx.db.models import InboundNumber, Tenant, User
from pbx.settings import load_settings
from tests.cli_process import run_ledgerline
from tests.platform.conftest import PASSWORD, Platform, token_of

CREATE = ["tenant", "create", "acme", "--name", "Acme Energy", "--region", "IL",
          "--currency", "ILS", "--timezone", "Asia/Jerusalem", "--did", "+97237630100",
          "--did", "+97237630101", "--admin", "dana"]  # fmt: skip


async def _ledgerline(platform: Platform, *argv: str) -> tuple[int, str, str]:
    """The command in a process of its own, as an operator runs it."""
    return await run_ledgerline(platform.database.url, *argv)


async def _in_process(platform: Platform, *argv: str) -> int:
    """The command's parser and handler in this process (quicker, for the many refusals)."""
    args = _parser().parse_args(list(argv))
    settings = load_settings(environ={"LEDGERLINE_DATABASE_URL": platform.database.url})
    return await args.handler(settings, args)


async def _count(platform: Platform, model: Any) -> int:
    async with platform.database.system_session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_business_made_with_the_cli_has_its_admin_configure_a_queue(
    platform: Platform,
) -> None:
    code, out, err = await _ledgerline(platform, *CREATE, "--link-base", platform.url)
    assert code == 0, err
    link = out.strip().splitlines()[-1]
    assert link.startswith(platform.url + "/#set-password=")
    admin = platform.client()
    status, _ = await admin.call("POST", "/auth/login", {"tenant": "acme", "username": "dana",
                                                         "password": PASSWORD})  # fmt: skip
    assert status == 401  # no password until the link sets one
    status, _ = await admin.call("POST", "/auth/set-password",
                                 {"token": token_of(link), "password": PASSWORD})  # fmt: skip
    assert status == 204
    await admin.login("acme", "dana", PASSWORD)
    status, queue = await admin.call("POST", "/queues", {"name": "billing"})
    assert status == 201
    status, route = await admin.call("POST", "/routes", {"did": "+97237630100",
                                                         "queue_id": queue["id"]})  # fmt: skip
    assert status == 201 and route["did"] == "+97237630100"
    status, _ = await admin.call("POST", "/routes", {"did": "+97237630199",
                                                     "queue_id": queue["id"]})  # fmt: skip
    assert status == 201  # a number of nobody's: the business's from now on
    await admin.close()
    code, out, _ = await _ledgerline(platform, "tenant", "list")
    assert code == 0 and out.split("\t")[:2] == ["acme", "active"]


async def test_a_business_disabled_with_the_cli_cannot_sign_in(platform: Platform) -> None:
    await platform.admin_of("acme", "+97237630100")
    code, out, _ = await _ledgerline(platform, "tenant", "disable", "acme")
    assert code == 0 and "disabled" in out
    client = platform.client()
    status, _ = await client.call("POST", "/auth/login", {"tenant": "acme", "username": "dana",
                                                          "password": PASSWORD})  # fmt: skip
    assert status == 401
    await client.close()


async def test_a_platform_token_is_shown_once_listed_and_revoked(platform: Platform) -> None:
    code, out, _ = await _ledgerline(platform, "platform", "token", "create", "billing-team")
    secret = out.strip().splitlines()[-1]
    assert code == 0 and secret.startswith("llp_")
    api = platform.client(secret)
    assert (await api.call("GET", "/platform/tenants"))[0] == 200
    code, out, _ = await _ledgerline(platform, "platform", "token", "list")
    assert code == 0 and secret not in out
    listed = {line.split("\t")[0]: line for line in out.strip().splitlines()}
    assert "last used never" in listed["ops"] and "last used never" not in listed["billing-team"]
    assert "\tactive\tlast used" in listed["billing-team"]
    assert f"by cli:{getpass.getuser()}" in listed["billing-team"]
    code, _, _ = await _ledgerline(platform, "platform", "token", "revoke", "billing-team")
    assert code == 0
    assert (await api.call("GET", "/platform/tenants"))[0] == 401
    code, out, _ = await _ledgerline(platform, "platform", "token", "list")
    revoked = next(line for line in out.splitlines() if line.startswith("billing-team\t"))
    assert "\trevoked 2" in revoked  # the moment, then who
    assert f"by cli:{getpass.getuser()}\tlast used" in revoked
    await api.close()


@pytest.mark.parametrize(
    ("option", "value", "line"),
    [
        ("slug", "Acme!", "ledgerline: slug: lower-case letters"),
        ("--region", "XX", "ledgerline: region: 'XX' is not a two-letter region code"),
        ("--currency", "SHEKEL", "ledgerline: currency: 'SHEKEL' is not a known ISO 4217 code"),
        ("--timezone", "Asia/Atlantis", "ledgerline: timezone: 'Asia/Atlantis' is not an IANA"),
        ("--did", "03-763-0100", "ledgerline: did: '03-763-0100' is not in E.164 form"),
        ("--did", "+9720000", "ledgerline: did: +9720000 is not a valid phone number"),
        ("--admin", "dana levi", "ledgerline: admin: a username of 1 to 64"),
        ("--name", "\u202e", "ledgerline: name: 1 to 200 visible characters"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_clear_line_and_nothing_is_created(
    platform: Platform, capsys: pytest.CaptureFixture[str], option: str, value: str, line: str
) -> None:
    argv = list(CREATE)
    if option == "slug":
        argv[2] = value
    else:
        argv[argv.index(option) + 1] = value
    assert await _in_process(platform, *argv) == 1
    assert line in capsys.readouterr().err
    assert [await _count(platform, model) for model in (Tenant, InboundNumber, User)] == [0, 0, 0]


async def test_a_number_or_slug_another_business_holds_is_refused_and_nothing_is_created(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await platform.business("ofek", "+97237630101")
    assert await _in_process(platform, *CREATE) == 1
    assert capsys.readouterr().err == (
        "ledgerline: +97237630101 is already another business's number\n"
    )
    argv = [*CREATE[:2], "ofek", *CREATE[3:]]
    argv[argv.index("+97237630101")] = "+97237630102"
    assert await _in_process(platform, *argv) == 1
    assert "the slug 'ofek' is already another business's" in capsys.readouterr().err
    assert [await _count(platform, model) for model in (Tenant, InboundNumber, User)] == [1, 1, 1]


async def test_update_and_disable_name_an_unknown_business_clearly(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _in_process(platform, "tenant", "update", "nobody", "--name", "X") == 1
    assert await _in_process(platform, "tenant", "disable", "nobody") == 1
    assert capsys.readouterr().err == "ledgerline: no business 'nobody'\n" * 2


async def test_update_changes_a_business_and_its_numbers(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await platform.business("ofek", "+97237630100")
    numbers = ("--add-did", "+37052140100", "--remove-did", "+97237630100")
    assert await _in_process(platform, "tenant", "update", "ofek", "--currency", "eur",
                             *numbers) == 0  # fmt: skip
    assert capsys.readouterr().out.split("\t")[4:] == ["EUR", "Asia/Jerusalem", "+37052140100\n"]
