"""`agi://…/caller-lookup` over a real socket, with the peer speaking as Asterisk 22 does."""

from __future__ import annotations

import asyncio

from agi_scripts.fastagi.server import FastAGIServer
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.agi_scripts.conftest import TEL_AVIV_DID, VILNIUS_DID

LL_VARIABLES = {
    "LL_MATCH", "LL_CUSTOMER_ID", "LL_CUSTOMER_NAME", "LL_ACCOUNT_STATUS", "LL_BALANCE_MINOR",
    "LL_CURRENCY", "LL_PRIORITY",
}  # fmt: skip


async def call(server: FastAGIServer, **options):  # type: ignore[no-untyped-def]
    return await run_fastagi_call("127.0.0.1", server.port, "caller-lookup", **options)


async def test_a_known_caller_gets_every_variable_set_with_each_reply_checked(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    record = await call(agi_server, callerid="050-234-5678", args=(TEL_AVIV_DID,))
    assert record.variables.keys() >= LL_VARIABLES
    assert record.variables["LL_MATCH"] == "unique"
    assert record.variables["LL_CUSTOMER_ID"] == str(customers["sara"])
    assert record.variables["LL_CUSTOMER_NAME"] == 'שרה "השרה" כהן\\'
    assert record.variables["LL_ACCOUNT_STATUS"] == "overdue"
    assert record.variables["LL_BALANCE_MINOR"] == "45050"
    assert record.variables["LL_CURRENCY"] == "ILS"
    assert record.variables["LL_PRIORITY"] == "5"
    assert all(reply == "200 result=1" for reply in record.replies)
    assert record.server_closed


async def test_a_lithuanian_name_arrives_intact_and_a_vip_is_prioritised(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    record = await call(agi_server, callerid="8 612 34567", dnid="37052550100")
    assert record.variables["LL_CUSTOMER_NAME"] == "Žygimantas Šimkūnas"
    assert record.variables["LL_PRIORITY"] == "10"
    assert record.variables["LL_CURRENCY"] == "EUR"


async def test_the_did_comes_from_the_extension_when_no_argument_or_dnid_is_given(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    record = await call(agi_server, callerid="+37061234567", extension=VILNIUS_DID)
    assert record.variables["LL_MATCH"] == "unique"


async def test_a_shared_number_is_ambiguous_and_clears_customer_variables(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    stale = {"LL_CUSTOMER_ID": "999", "LL_CUSTOMER_NAME": "from an earlier lookup"}
    record = await call(agi_server, callerid="03-555-1234", args=(TEL_AVIV_DID,), variables=stale)
    assert record.variables["LL_MATCH"] == "ambiguous"
    assert record.variables["LL_CANDIDATES"] == "2"
    assert record.variables["LL_CUSTOMER_ID"] == ""
    assert record.variables["LL_CUSTOMER_NAME"] == ""


async def test_a_withheld_caller_is_no_match_with_the_reason(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    record = await call(agi_server, callerid="+972502345678", callingpres=67, args=(TEL_AVIV_DID,))
    assert record.variables["LL_MATCH"] == "none"
    assert record.variables["LL_REASON"] == "withheld"
    assert record.variables["LL_PRIORITY"] == "0"


async def test_the_caller_hanging_up_mid_lookup_ends_the_session_quietly(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    record = await call(
        agi_server, callerid="050-234-5678", args=(TEL_AVIV_DID,), hangup_after_commands=2
    )
    assert record.hung_up
    assert agi_server.sessions_failed == 0
    follow_up = await call(agi_server, callerid="050-234-5678", args=(TEL_AVIV_DID,))
    assert follow_up.variables["LL_MATCH"] == "unique"


async def test_a_refused_set_variable_stops_the_lookup_and_flags_the_error(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    def refuse_second(command: str) -> str | None:
        return "200 result=-1" if '"LL_CUSTOMER_ID"' in command else None

    record = await call(
        agi_server, callerid="050-234-5678", args=(TEL_AVIV_DID,), on_command=refuse_second
    )
    assert [c.split()[2] for c in record.commands] == [
        '"LL_MATCH"', '"LL_CUSTOMER_ID"', '"LL_ERROR"',
    ]  # fmt: skip
    assert record.variables["LL_ERROR"] == "internal-error"
    assert "LL_CUSTOMER_NAME" not in record.variables


async def test_many_concurrent_lookups_are_all_answered(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    callers = ["050-234-5678", "8 612 34567", "03-555-1234", "anonymous"] * 15
    dids = [TEL_AVIV_DID, VILNIUS_DID, TEL_AVIV_DID, TEL_AVIV_DID] * 15
    records = await asyncio.gather(
        *(call(agi_server, callerid=c, args=(d,)) for c, d in zip(callers, dids, strict=True))
    )
    assert [r.variables["LL_MATCH"] for r in records[:4]] == [
        "unique", "unique", "ambiguous", "none",
    ]  # fmt: skip
    assert all(r.server_closed for r in records)
    assert agi_server.active_sessions == 0


async def test_a_lookup_for_a_business_s_number_leaves_a_pop_token_and_an_unknown_did_none(
    agi_server: FastAGIServer, customers: dict[str, int]
) -> None:
    stale = {"LL_POP_TOKEN": "1.9999999999.0123456789abcdef0123456789abcdef"}
    ours = await call(agi_server, callerid="050-234-5678", args=(TEL_AVIV_DID,), variables=stale)
    nobody = await call(agi_server, callerid="050-234-5678", args=("+15550000000",),
                        variables=stale)  # fmt: skip

    assert ours.variables["LL_POP_TOKEN"].startswith(f"{customers['il']}.")
    assert nobody.variables["LL_POP_TOKEN"] == ""  # no business: nothing to vouch for
