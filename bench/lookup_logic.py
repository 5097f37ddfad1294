"""A FastAGI server that runs caller-lookup as `serve` does without a cache (the handler, the
identification service, the directory's batching, the token), except that the directory's
read answers from memory instead of PostgreSQL: between the floor (bench/noop_fastagi.py, no
lookup at all) and the real lookup, it says how much of the lookup's cost is our own Python
and how much is the database's round trip.

Each number is answered with the rows of one of a sample of the bench database's real
customers (read once at start), after one turn of the event loop, as an answer from the
database comes later than the question. The dialled number is resolved to its business
through the bench database, as `serve` does (once, then kept 30 s)."""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, date, datetime

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.handlers.caller_lookup import caller_lookup
from agi_scripts.pop_token import PopTokens
from billing_bridge.identification import directory
from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.service import CallerIdentification
from pbx.cli import run_loop
from pbx.db.database import Database
from pbx.installation_secret import MemorySecret
from pbx.service import tune_collector_for_serving

SAMPLE = 1_000  # customers whose rows answer every number
TENANT_ID = 1  # the bench database's one business


class _FromMemory(CustomerDirectory):
    def __init__(self, database: Database, answers: list[list[object]]) -> None:
        super().__init__(database)
        self._answers = answers

    async def _read(self, asked: object, numbers: list[str]) -> dict[str, list[object]]:
        await asyncio.sleep(0)  # the answer comes in a later turn of the loop, as the database's
        return {number: self._answers[hash(number) % len(self._answers)] for number in numbers}


async def serve(port: int, database_url: str) -> None:
    database = Database(database_url, pool_size=2)
    answers = []
    async with database.tenant_connection(TENANT_ID) as connection:
        for customer in range(1, SAMPLE + 1):
            number = f"+97253{customer:07d}"  # bench/caller_lookup.py's numbering
            parameters = {"e164": number, "limit": 10, "today": date.today()}
            answers.append(list(await connection.rows(directory._LOOKUP, parameters)))
    identification = CallerIdentification(
        _FromMemory(database, answers), NoCache(), fallback_region="IL"
    )
    tokens = PopTokens(MemorySecret(b"\x07" * 32))
    handler = caller_lookup(identification, tokens, lambda: datetime.now(UTC))
    server = FastAGIServer({"caller-lookup": handler}, "127.0.0.1", port, 10.0, 1000)
    await server.start()
    tune_collector_for_serving()  # as `serve` does once started
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    run_loop(serve(arguments.port, os.environ["LEDGERLINE_DATABASE_URL"]))
