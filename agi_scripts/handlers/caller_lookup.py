"""`agi://HOST:PORT/caller-lookup[,DID]`: identify the caller and set the LL_* variables, and
LL_POP_TOKEN, which vouches for this caller to a later `screen-pop` (empty when the dialled
number belongs to no business)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agi_scripts.fastagi.server import Handler
from agi_scripts.fastagi.session import AGISession
from agi_scripts.lookup import EncodedVariables, dialed_number, lookup_variables
from agi_scripts.pop_token import PopTokens, VouchedCaller
from billing_bridge.identification.model import Match
from billing_bridge.identification.service import CallerIdentification

POP_TOKEN_VARIABLE = "LL_POP_TOKEN"


def caller_lookup(
    identification: CallerIdentification, tokens: PopTokens, clock: Callable[[], datetime]
) -> Handler:
    # A cache hands out the same result for every call from a regular caller: its variables
    # are encoded once. Without one, every result is new, and keeping its encoding (and the
    # result with it) only fed the garbage collector: 30-32 -> 21-22 µs CPU a lookup.
    encoded = EncodedVariables() if identification.keeps_results else lookup_variables

    async def handle(session: AGISession) -> None:
        env = session.env
        result = await identification.identify(
            env.callerid, dialed_number(env.args, env.dnid, env.extension), env.callingpres
        )
        for name, value in encoded(result):
            await session.set_variable(name, value)
        token = ""
        if result.tenant_id is not None:
            customer = result.customer if result.match is Match.UNIQUE else None
            caller = VouchedCaller(
                result.tenant_id, env.uniqueid, customer.customer_id if customer else None
            )
            token = await tokens.issue(caller, clock())
        await session.set_variable(POP_TOKEN_VARIABLE, token)

    return handle
