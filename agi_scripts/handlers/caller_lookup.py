"""`agi://HOST:PORT/caller-lookup[,DID]`: identify the caller and set the LL_* variables."""

from __future__ import annotations

from agi_scripts.fastagi.server import Handler
from agi_scripts.fastagi.session import AGISession
from agi_scripts.lookup import dialed_number, lookup_variables
from billing_bridge.identification.service import CallerIdentification


def caller_lookup(identification: CallerIdentification) -> Handler:
    async def handle(session: AGISession) -> None:
        env = session.env
        result = await identification.identify(
            env.callerid, dialed_number(env.args, env.dnid, env.extension), env.callingpres
        )
        for name, value in lookup_variables(result):
            await session.set_variable(name, value)

    return handle
