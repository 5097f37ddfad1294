"""The pyst2 process-AGI script, run as Asterisk runs `AGI(caller_lookup.py,DID)`: a child
process talking AGI over its stdin and stdout."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pbx.simulator.fastagi_peer import SimulatedChannel, environment_lines
from tests.agi_scripts.conftest import TEL_AVIV_DID, VILNIUS_DID

# The file installed into agi-bin, run as Asterisk runs it.
SCRIPT = Path(__file__).resolve().parents[2] / "asterisk-conf" / "agi-bin" / "caller_lookup.py"


def _without_test_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The script reads LEDGERLINE_* as settings and refuses unknown ones: the test suite's
    own (LEDGERLINE_TEST_REDIS_URL, ...) are not for it."""
    return {key: value for key, value in environ.items()
            if not key.startswith("LEDGERLINE_TEST_")}  # fmt: skip


async def run_process_agi(
    database_url: str, callerid: str, args: tuple[str, ...], callingpres: int = 0
) -> tuple[SimulatedChannel, list[str], int]:
    channel = SimulatedChannel(
        name="PJSIP/pstn-trunk-00000001", uniqueid="1795352775.1", extension="s",
        context="from-pstn", callerid=callerid, calleridname="unknown",
    )  # fmt: skip
    network = environment_lines(
        "", 0, "", channel, callingpres=callingpres, dnid="unknown", language="en",
        threadid=1, args=args,
    )  # fmt: skip
    # A process AGI's environment is the network one without its two network lines.
    env = ["agi_request: caller_lookup.py"] + [
        line for line in network if not line.startswith(("agi_network", "agi_request"))
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**_without_test_settings(os.environ), "LEDGERLINE_DATABASE_URL": database_url,
             "LEDGERLINE_REDIS_URL": ""},
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("".join(f"{line}\n" for line in env).encode() + b"\n")
    commands = []
    async with asyncio.timeout(30):
        while line := await process.stdout.readline():
            command = line.decode().rstrip("\n")
            commands.append(command)
            process.stdin.write((channel.execute(command) + "\n").encode())
        process.stdin.close()  # every pipe closed in this loop's life, not by the collector's
        await process.wait()
    return channel, commands, process.returncode or 0


async def test_the_script_sets_the_same_variables_as_fastagi(
    database_url: str, customers: dict[str, int]
) -> None:
    channel, commands, code = await run_process_agi(database_url, "050-234-5678", (TEL_AVIV_DID,))
    assert code == 0
    assert channel.variables["LL_MATCH"] == "unique"
    assert channel.variables["LL_CUSTOMER_ID"] == str(customers["sara"])
    assert channel.variables["LL_CUSTOMER_NAME"] == 'שרה "השרה" כהן\\'
    assert channel.variables["LL_BALANCE_MINOR"] == "45050"
    assert channel.variables["LL_PRIORITY"] == "5"
    assert all(c.startswith("SET VARIABLE ") for c in commands)


async def test_a_lithuanian_caller_by_national_number(
    database_url: str, customers: dict[str, int]
) -> None:
    channel, _, _ = await run_process_agi(database_url, "8 612 34567", (VILNIUS_DID,))
    assert channel.variables["LL_CUSTOMER_NAME"] == "Žygimantas Šimkūnas"
    assert channel.variables["LL_CURRENCY"] == "EUR"


async def test_a_withheld_caller_is_no_match(database_url: str, customers: dict[str, int]) -> None:
    channel, _, _ = await run_process_agi(database_url, "+972502345678", (TEL_AVIV_DID,), 67)
    assert channel.variables["LL_MATCH"] == "none"
    assert channel.variables["LL_REASON"] == "withheld"


async def test_an_unreachable_database_leaves_the_call_going_with_an_error_flag(
    database_url: str, customers: dict[str, int]
) -> None:
    nowhere = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    channel, _, code = await run_process_agi(nowhere, "050-234-5678", (TEL_AVIV_DID,))
    assert code == 0
    assert channel.variables == {"LL_MATCH": "none", "LL_ERROR": "lookup-failed"}
