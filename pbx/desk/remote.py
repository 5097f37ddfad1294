"""Desk commands reach the process that owns the Asterisk connection, whichever process
the agent's request arrived at.

The owner listens on the bus topic `desk:<node>` and answers each request on a Redis list
named in it; the requester waits on that list (BLPOP) for a few seconds and answers
`Unavailable` if nobody replied (no owner at the moment: a takeover in progress). Pub/sub
delivers a request to every process; only the owner (its call flow in sync) acts on it.
Requests and replies travel as `pbx.desk.wire` encodes them.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pbx.bus.port import Bus, Message
from pbx.desk import wire
from pbx.desk.commands import Actor, Command
from pbx.desk.errors import BadRequest, DeskError, Unavailable
from pbx.desk.local import LocalDesk
from pbx.desk.results import Result

log = logging.getLogger(__name__)
REPLY_PREFIX = "ll:desk:reply:"


def topic(node: str) -> str:
    return f"desk:{node}"


class ForwardingDesk:
    """Runs a command here while this process owns the calls, else on the owner."""

    def __init__(
        self, local: LocalDesk, bus: Bus, redis: Redis, node: str, *, timeout_s: float = 5.0
    ) -> None:
        self.local, self._bus, self._redis, self._node = local, bus, redis, node
        self.timeout_s = timeout_s

    async def run(self, command: Command, actor: Actor) -> Result:
        if self.local.ready:
            return await self.local.run(command, actor)
        reply_to = REPLY_PREFIX + uuid.uuid4().hex
        request = wire.encode_request(command, actor) | {"reply_to": reply_to}
        try:
            await self._bus.publish(topic(self._node), request)
            answer = await self._redis.blpop([reply_to], timeout=self.timeout_s)
        except (RedisError, OSError) as exc:
            raise Unavailable(f"cannot reach the call flow: {exc}") from None
        if answer is None:
            raise Unavailable("no process serves calls right now")
        try:
            return wire.decode_reply(json.loads(answer[1]))
        except (ValueError, wire.WireError) as exc:  # JSONDecodeError is a ValueError
            log.error("desk reply not understood: %s", exc)
            raise Unavailable("the call flow's answer was not understood") from None


class DeskServer:
    """Subscribe with `bus.subscribe(topic(node), server.handle)` in every process."""

    def __init__(self, local: LocalDesk, redis: Redis) -> None:
        self.local, self._redis = local, redis

    async def handle(self, message: Message) -> None:
        if message.get("type") == "resync" or not self.local.ready:
            return  # not the owner (or not yet in sync): the owner answers
        reply_to = message.get("reply_to")
        if not isinstance(reply_to, str) or not reply_to.startswith(REPLY_PREFIX):
            log.warning("desk request without a reply list skipped")
            return
        reply = await self._answer(message)
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(reply_to, json.dumps(reply)).expire(reply_to, 30).execute()

    async def _answer(self, message: Message) -> dict[str, Any]:
        try:
            command, actor = wire.decode_request(message)
        except wire.WireError as exc:
            return wire.encode_error(BadRequest(f"malformed desk request: {exc}"))
        try:
            return wire.encode_result(await self.local.run(command, actor))
        except DeskError as exc:
            return wire.encode_error(exc)
