"""Hostile input to the platform API, with a valid platform token (so every request reaches
the body and path checks): a documented 4xx for each, never a 500, and nothing created."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from pbx.db.models import Tenant
from pbx.http.api import PREFIX
from tests.http.test_hostile_input import (
    HOSTILE_BODIES,
    HOSTILE_PATH_IDS,
    HOSTILE_VALUES,
    _properties,
    _request_schema,
)
from tests.platform.conftest import Platform

# The valid body's number is another business's: a hostile value that still makes a valid body
# is refused (409), so the walk creates nothing.
TAKEN = "+97237630199"
BODIES: dict[str, dict[str, Any]] = {
    "TenantIn": {"slug": "fuzzed", "name": "Fuzzed", "region": "IL", "currency": "ILS",
                 "timezone": "UTC", "dids": [TAKEN], "admin": {"username": "f"}},
    "TenantPatch": {"name": "Fuzzed"},
}  # fmt: skip


async def test_every_platform_operation_answers_hostile_input_with_a_documented_4xx(
    platform: Platform,
) -> None:
    await platform.business("ofek", TAKEN)
    api = platform.client(platform.token)
    _, document = await api.call("GET", "/openapi.json")
    failures: list[str] = []

    async def send(method: str, path: str, body: bytes | None) -> None:
        try:
            status, _ = await api.send(method, path, body)
        except Exception as exc:  # an undocumented status, an answer that is not JSON
            failures.append(f"{method} {path} {(body or b'')[:60]!r}: {exc!r}"[:300])
            return
        if status >= 500 or (status < 400 and method != "GET"):
            failures.append(f"{method} {path} {(body or b'')[:60]!r}: {status}")

    for template, operations in document["paths"].items():
        if not template.startswith(PREFIX + "/platform/"):
            continue
        for method, operation in operations.items():
            method = method.upper()
            schema = _request_schema(operation, document)
            name = (schema or {}).get("$ref", "").rsplit("/", 1)[-1]
            base = BODIES.get(name)
            path = template.removeprefix(PREFIX)
            for value in HOSTILE_PATH_IDS if "{slug}" in path else ():
                await send(method, path.replace("{slug}", value), _encode(base))
            path = path.replace("{slug}", "nobody")
            if base is None:
                continue
            for raw in HOSTILE_BODIES:
                await send(method, path, raw)
            for field in _properties(schema or {}, document):
                for value in HOSTILE_VALUES:
                    await send(method, path, _encode(base | {field: value}))
    await api.close()
    assert failures == []
    async with platform.database.system_session() as session:
        assert await session.scalar(select(func.count()).select_from(Tenant)) == 1


def _encode(value: Any) -> bytes | None:
    return None if value is None else json.dumps(value).encode()
