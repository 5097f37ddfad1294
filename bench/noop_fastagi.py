"""A FastAGI server that answers caller-lookup with fixed values and no lookup at all: the
floor the protocol itself sets on this machine (same commands, same replies, no data)."""

from __future__ import annotations

import argparse
import asyncio

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.fastagi.session import AGISession
from agi_scripts.handlers.caller_lookup import POP_TOKEN_VARIABLE
from agi_scripts.lookup import lookup_variables
from billing_bridge.identification.model import Identification, NoMatchReason
from pbx.cli import run_loop

FIXED = [
    *lookup_variables(Identification.nobody(NoMatchReason.NOT_FOUND, 1, "+972530000000")),
    (POP_TOKEN_VARIABLE, "1.1700000000." + "0" * 64),  # a real token's length, unsigned
]


async def caller_lookup(session: AGISession) -> None:
    for name, value in FIXED:
        await session.set_variable(name, value)


async def serve(port: int) -> None:
    server = FastAGIServer({"caller-lookup": caller_lookup}, "127.0.0.1", port, 10.0, 1000)
    await server.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    run_loop(serve(parser.parse_args().port))
