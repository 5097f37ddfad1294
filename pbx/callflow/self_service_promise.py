"""A promise to pay the caller makes alone in the IVR's self-service, the effects: the
business's default promise for the account (`collections.promises.ivr_offer`), and, once the
caller confirms it, the promise made through the same rules, audit, events and transaction
as an agent's (`make_promise_in_ivr`), attributed to the call with no agent.

A refusal by the rules (a promise already open, a plan active, nothing owed, a cap broken
since the offer was read) comes back as its code, never raised to the call flow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from billing_bridge.collections import promises
from billing_bridge.collections.errors import CollectionsError
from billing_bridge.collections.promises import PromiseOrder
from pbx.callflow.calls import FlowCall
from pbx.db.database import Database

log = logging.getLogger(__name__)


class IvrPromises:
    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database, self.clock = database, clock

    async def offer(self, call: FlowCall, account_id: int) -> PromiseOrder | str:
        """The promise to offer on the account, or the code of the rule that refuses one."""
        try:
            async with self.database.tenant_session(call.tenant_id) as session:
                return await promises.ivr_offer(session, call.tenant_id, account_id,
                                                self.clock())  # fmt: skip
        except CollectionsError as exc:
            return self._refused(call, exc)

    async def make(self, call: FlowCall, order: PromiseOrder) -> int | str:
        """The promise's id once committed, or the code of the rule that refused it."""
        try:
            async with self.database.tenant_session(call.tenant_id) as session, session.begin():
                made = await promises.make_promise_in_ivr(
                    session, call.tenant_id, order, call_record_id=call.record_id,
                    now=self.clock(),
                )  # fmt: skip
                return made.id
        except CollectionsError as exc:
            return self._refused(call, exc)

    @staticmethod
    def _refused(call: FlowCall, exc: CollectionsError) -> str:
        log.info("call %s: no promise in the IVR (%s): %s", call.call_id, exc.code, exc.message)
        return exc.code
