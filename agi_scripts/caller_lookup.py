"""The process-AGI caller lookup: what Asterisk's `AGI(caller_lookup.py[,DID])` runs, minus
how its identification service is built.

Asterisk starts the agi-bin script per call and talks AGI over stdin/stdout; pyst2 speaks the
protocol. It sets the same LL_* channel variables as the FastAGI `caller-lookup` script, from
the same identification service, which the script's entry point hands in (`pbx/agi_bin.py`
builds it from LEDGERLINE_CONFIG and LEDGERLINE_* as `ledgerline serve` does, and
`asterisk-conf/agi-bin/caller_lookup.py` is the file installed into agi-bin). FastAGI is the
faster choice: this process pays for a Python start and a database connection on every call.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from asterisk.agi import AGI, AGIException

from agi_scripts.lookup import dialed_number, lookup_variables
from billing_bridge.identification.model import Identification
from pbx.settings import SettingsError

# The caller ID, the dialed number and the caller's presentation, identified.
Identify = Callable[[str, str, str], Awaitable[Identification]]


def agi_quote(value: str) -> str:
    """pyst2 wraps values in quotes but escapes nothing; Asterisk unescapes these two."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def main(identify: Identify) -> int:
    """Serve the call on this process's stdin and stdout."""
    # Text streams in UTF-8 whatever the locale Asterisk gives us: names are Hebrew, Lithuanian…
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    return serve(identify, stdin, stdout)


def serve(identify: Identify, stdin: TextIO, stdout: TextIO) -> int:
    """Read the call's AGI environment, identify the caller and set the LL_* variables; a
    failure leaves the call going with LL_ERROR set. The exit status is 0 either way."""
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
