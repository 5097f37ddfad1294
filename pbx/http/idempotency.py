"""`Idempotency-Key` on machine clients' writes: the HTTP side of
`billing_bridge.ingest.idempotency`.

A write sent again with the same key and the same request (method, path, body) gets the
answer stored the first time, status and body, with `Idempotent-Replayed: true`, and nothing
is done twice. The same key with another request is 422 `idempotency_key_reused`; while the
first request with a key is still being worked, another with it is 409
`idempotency_key_in_progress`. Only answers of work that committed are stored (2xx): a
refused request released its key, and sending it again (corrected) does the work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from billing_bridge.ingest import idempotency
from pbx.db.database import Database
from pbx.http.api import ApiError, dumps, invalid

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


class JsonText(str):
    """A body already written as JSON (a batch's answer, written in one pass): sent as it
    is, and read back only to be stored under an idempotency key."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # what `pbx.http.api.dumps` writes as JSON, or `JsonText`
    replayed: bool = False

    def response(self) -> web.Response:
        headers = {REPLAYED: "true"} if self.replayed else {}
        if isinstance(self.body, JsonText):
            return web.Response(text=self.body, status=self.status, headers=headers,
                                content_type="application/json")  # fmt: skip
        return web.json_response(self.body, status=self.status, headers=headers, dumps=dumps)


Work = Callable[[AsyncSession], Awaitable[Answer]]


async def once(
    database: Database,
    request: web.Request,
    *,
    tenant_id: int,
    api_key_id: int | None,
    body: bytes,
    work: Work,
) -> Answer:
    """Run `work` in one transaction of the business, once per idempotency key if the request
    carries one; its answer is stored in that same transaction."""
    key = request.headers.get(HEADER)
    if key is None:
        return await _run(database, tenant_id, work, None)
    if not idempotency.valid_key(key):
        raise invalid(HEADER, "must be 1-255 printable ASCII characters")
    keyed = idempotency.KeyedRequest(
        key, request.method, request.path, hashlib.sha256(body).hexdigest(), api_key_id
    )
    try:
        claimed = await idempotency.claim(database, tenant_id, keyed, datetime.now(UTC))
    except idempotency.KeyReused:
        raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used for "
                       "another request (method, path or body differ)") from None  # fmt: skip
    except idempotency.KeyInProgress:
        message = "a request with this Idempotency-Key is being worked on; try again shortly"
        raise ApiError(409, "idempotency_key_in_progress", message) from None
    if isinstance(claimed, idempotency.StoredAnswer):
        return Answer(claimed.status, claimed.body, replayed=True)
    try:
        return await _run(database, tenant_id, work, claimed)
    except BaseException:  # refused, failed or cancelled: nothing committed, the key is free
        await idempotency.release(database, tenant_id, claimed)
        raise


async def _run(database: Database, tenant_id: int, work: Work, claim_id: int | None) -> Answer:
    async with database.tenant_session(tenant_id) as session, session.begin():
        answer = await work(session)
        if claim_id is not None:
            body = answer.body
            stored = json.loads(body) if isinstance(body, JsonText) else body
            await idempotency.complete(session, claim_id, answer.status, stored)
    return answer
