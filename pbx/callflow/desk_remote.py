"""Desk operations reach the process that owns the Asterisk connection, whichever process
the agent's request arrived at.

The owner listens on the bus topic `desk:<node>` and answers each request on a Redis list
named in it; the requester waits on that list (BLPOP) for a few seconds and answers 503 if
nobody replied (no owner at the moment: a takeover in progress). Pub/sub delivers a request
to every process; only the owner (its call flow in sync) acts on it.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pbx.bus.port import Bus, Message
from pbx.callflow.app import CallFlow
from pbx.callflow.desk import OPERATIONS, Actor, DeskError, Result, run_here

log = logging.getLogger(__name__)
REPLY_PREFIX = "ll:desk:reply:"


def topic(node: str) -> str:
    return f"desk:{node}"


class ForwardingDesk:
    def __init__(
        self, flow: CallFlow, bus: Bus, redis: Redis, node: str, *, timeout_s: float = 5.0
    ) -> None:
        self.flow, self._bus, self._redis, self._node = flow, bus, redis, node
        self.timeout_s = timeout_s

    async def run(self, operation: str, actor: Actor, **args: Any) -> Result:
        if self.flow.ready:
            return await run_here(self.flow, operation, actor, args)
        reply_to = REPLY_PREFIX + uuid.uuid4().hex
        request = {"op": operation, "actor": actor.to_dict(), "args": args, "reply_to": reply_to}
        try:
            await self._bus.publish(topic(self._node), request)
            answer = await self._redis.blpop([reply_to], timeout=self.timeout_s)
        except (RedisError, OSError) as exc:
            message = f"cannot reach the call flow: {exc}"
            raise DeskError(503, "asterisk_unavailable", message) from None
        if answer is None:
            raise DeskError(503, "asterisk_unavailable", "no process serves calls right now")
        reply = json.loads(answer[1])
        if "error" in reply:
            error = reply["error"]
            raise DeskError(error["status"], error["code"], error["message"])
        return reply.get("result")


class DeskServer:
    """Subscribe with `bus.subscribe(topic(node), server.handle)` in every process."""

    def __init__(self, flow: CallFlow, redis: Redis) -> None:
        self.flow, self._redis = flow, redis

    async def handle(self, message: Message) -> None:
        if message.get("type") == "resync" or not self.flow.ready:
            return  # not the owner (or not yet in sync): the owner answers
        reply_to = message.get("reply_to")
        operation = message.get("op")
        if not isinstance(reply_to, str) or not reply_to.startswith(REPLY_PREFIX):
            log.warning("desk request without a reply list skipped")
            return
        try:
            if operation not in OPERATIONS:
                raise DeskError(400, "bad_operation", f"unknown desk operation {operation!r}")
            actor = Actor(**message["actor"])
            result = await run_here(self.flow, operation, actor, dict(message.get("args") or {}))
            reply: dict[str, Any] = {"result": result}
        except DeskError as exc:
            reply = {"error": exc.to_dict()}
        except (KeyError, TypeError) as exc:
            reply = {
                "error": DeskError(400, "bad_request", f"malformed desk request: {exc}").to_dict()
            }
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(reply_to, json.dumps(reply)).expire(reply_to, 30).execute()
