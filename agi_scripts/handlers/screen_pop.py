"""`agi://HOST:PORT/screen-pop,MEMBER,UNIQUEID,CUSTOMER_ID,TOKEN`: pop the agent's screen from
a dialplan that keeps app_queue (AGI-only deployments).

app_queue's connect routine runs this on each member channel as it is about to ring
(asterisk-conf `[ledgerline-screen-pop]`): MEMBER is the interface being rung (PJSIP/1001),
UNIQUEID the caller's channel, CUSTOMER_ID what caller-lookup found (may be empty) and TOKEN
the `LL_POP_TOKEN` caller-lookup set (`agi_scripts/pop_token.py`). Without a token that
vouches for that caller and customer, nothing pops: FastAGI has no authentication, and any
local process could otherwise push any customer to any agent. The agent is found by their
endpoint among the vouching business's agents; the pop is the same `call.offered` event the
ARI call flow sends, built by the same publisher (`DeskPublisher.offer_ringing`). Sets LL_POP
to `sent`, or `unknown-agent` when no agent of that business has that endpoint; malformed
arguments and refused tokens set LL_ERROR (`bad-request`,
`unverified-caller`) through the server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from agi_scripts.fastagi.errors import AGIBadRequest
from agi_scripts.fastagi.server import Handler
from agi_scripts.fastagi.session import AGISession
from agi_scripts.pop_token import PopTokenError, PopTokens
from pbx.events.publisher import DeskPublisher, Ringing

log = logging.getLogger(__name__)

# ASCII only, bounded: `²` is a digit to str.isdigit() and int() refuses it; 5,000 digits
# exceed int()'s conversion cap; a customer id is a positive 64-bit integer.
_MEMBER = re.compile(r"[A-Za-z0-9_]{1,32}/[!-~]{1,128}")
_UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,150}")
_CUSTOMER_ID = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True, slots=True)
class PopRequest:
    """The dialplan's arguments, checked."""

    member: str
    caller_uniqueid: str
    customer_id: int | None
    token: str


def parse_pop_request(args: Sequence[str]) -> PopRequest:
    """MEMBER, UNIQUEID, CUSTOMER_ID (may be empty), TOKEN; `AGIBadRequest` naming the first
    argument that is not what it should be (never echoing it)."""
    if len(args) > 4:
        raise AGIBadRequest(f"screen-pop takes 4 arguments, got {len(args)}")
    member, uniqueid, customer, token = (*(arg.strip() for arg in args), "", "", "", "")[:4]
    if not _MEMBER.fullmatch(member):
        raise AGIBadRequest("screen-pop: MEMBER is not an interface like PJSIP/1001")
    if not _UNIQUEID.fullmatch(uniqueid):
        raise AGIBadRequest("screen-pop: UNIQUEID is not a channel uniqueid")
    if customer and not _CUSTOMER_ID.fullmatch(customer):
        raise AGIBadRequest("screen-pop: CUSTOMER_ID is not a customer id")
    return PopRequest(member, uniqueid, int(customer) if customer else None, token)


def screen_pop(
    publisher: DeskPublisher, clock: Callable[[], datetime], tokens: PopTokens
) -> Handler:
    async def handle(session: AGISession) -> None:
        request = parse_pop_request(session.env.args)
        try:
            tenant_id = await tokens.verify(
                request.token, request.caller_uniqueid, request.customer_id, clock()
            )
        except PopTokenError as exc:
            raise AGIBadRequest(f"screen-pop refused: {exc}", "unverified-caller") from None
        ringing = Ringing(tenant_id, request.member, request.caller_uniqueid,
                          session.env.callerid, request.customer_id)  # fmt: skip
        if not await publisher.offer_ringing(ringing):
            log.warning("screen-pop for %r: no active agent has that endpoint", request.member)
            await session.set_variable("LL_POP", "unknown-agent")
            return
        await session.set_variable("LL_POP", "sent")

    return handle
