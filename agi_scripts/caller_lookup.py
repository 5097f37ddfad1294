#!/usr/bin/env python3
"""Process AGI for dialplans that run `AGI(caller_lookup.py[,DID])` from agi-bin.

Asterisk starts this script per call and talks AGI over stdin/stdout; pyst2 speaks the
protocol. It sets the same LL_* channel variables as the FastAGI `caller-lookup` script, from
the same identification service. Configuration comes from LEDGERLINE_CONFIG (a TOML file) and
LEDGERLINE_* variables, as for `ledgerline serve`. FastAGI is the faster choice: this
process pays for a Python start and a database connection on every call.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys

from asterisk.agi import AGI, AGIException

from agi_scripts.lookup import dialed_number, lookup_variables
from billing_bridge.identification.model import Identification
from pbx.bootstrap import build_services
from pbx.settings import SettingsError, load_settings

ONE_CONNECTION = "LEDGERLINE_DATABASE_POOL_SIZE"


def agi_quote(value: str) -> str:
    """pyst2 wraps values in quotes but escapes nothing; Asterisk unescapes these two."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


async def identify(caller_id: str, dialed: str, presentation: str) -> Identification:
    # One lookup: one connection to each pool, not a pool's worth opened for every call.
    services = build_services(load_settings(environ={**os.environ, ONE_CONNECTION: "1"}))
    try:
        return await services.identification.identify(caller_id, dialed, presentation)
    finally:
        await services.close()


def main() -> int:
    # Text streams in UTF-8 whatever the locale Asterisk gives us: names are Hebrew, Lithuanian…
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    # pyst2 narrates every line on stderr, which Asterisk copies into its log: keep it quiet.
    agi = AGI(stdin=stdin, stdout=stdout, stderr=io.StringIO())
    env = agi.env
    args = [env[f"agi_arg_{n}"] for n in range(1, 10) if f"agi_arg_{n}" in env]
    try:
        result = asyncio.run(
            identify(
                env.get("agi_callerid", ""),
                dialed_number(args, env.get("agi_dnid"), env.get("agi_extension")),
                env.get("agi_callingpres", ""),
            )
        )
    except SettingsError as exc:
        print(f"caller_lookup: configuration: {exc}", file=sys.stderr)
        return _report_failure(agi, "configuration")
    except Exception as exc:  # the call must go on without identification
        print(f"caller_lookup: lookup failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return _report_failure(agi, "lookup-failed")
    try:
        for name, value in lookup_variables(result):
            agi.set_variable(name, agi_quote(value))
    except AGIException:
        return 0  # the caller hung up: nothing left to tell Asterisk
    return 0


def _report_failure(agi: AGI, reason: str) -> int:
    try:
        agi.set_variable("LL_MATCH", "none")
        agi.set_variable("LL_ERROR", reason)
    except AGIException:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
