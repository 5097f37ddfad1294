"""Hostile input through /api/v1: every malformed body, query value and path id gets a clear
4xx that the OpenAPI document lists, never a 500; ids and money are strict integers that the
database can hold; free text is stored screened (no card numbers, no bidi overrides)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from pbx.db.models import Call, Credit, User
from pbx.http.api import BIGINT_MAX, PREFIX
from pbx.http.app import build_api
from tests.factories import make_customer
from tests.http.conftest import Site
from tests.http.support import ApiClient

DEEP_LIST = b"[" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000
# Values a hostile client puts where an id, an amount, a flag or a name belongs.
HOSTILE_VALUES: list[Any] = [
    True, False, "100", 100.0, 1e308, 2**63, 2**64, -(2**63) - 1, -1, 0, "²", "", "x" * 100_000,
    "a\x00b", "\u202e", None, [], {}, json.loads("[" * 40 + "1" + "]" * 40),
]  # fmt: skip
HOSTILE_BODIES: list[bytes] = [
    DEEP_LIST, DEEP_OBJECT, b'{"a": NaN}', b'{"a": Infinity}', b"\xff\xfe{}", b"1" * 5000,
    b"", b"null", b"[]", b'"text"', b"{" + b'"k":1,' * 10 + b"}", b'{"\\u0000": 1}',
    json.dumps({"a": json.loads("[" * 40 + "]" * 40)}).encode(),
]  # fmt: skip
HOSTILE_PATH_IDS = [
    "²", "١٢", "0", "-1", "1.0", "1e3", "true", " 1", "1_000", str(2**63), str(2**64),
    "9" * 400, "%00", "1%00", "%E2%80%AE1",
]  # fmt: skip
HOSTILE_QUERY_VALUES = [
    "²", "١٢", "true", "100.0", "1_000", " 1", str(2**63), str(2**64), str(-(2**63) - 1),
    "9" * 5000, "\x00", "a\x00", "%", "%%", "__", "x" * 5000,
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-13-01T00:00:00Z",
    "2026-01-01T00:00:00",
]  # fmt: skip
SAFE_PATH_ID = "999999"  # an id of nothing, so a request that gets through changes nothing
# Query values that are valid on their own, so a hostile one is not hidden by a missing one.
BASE_QUERY = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z",
              "at": "2026-06-01T00:00:00Z", "q": "ab"}  # fmt: skip
# Valid bodies, where one built from the schema alone would not be.
BASE_BODIES: dict[str, dict[str, Any]] = {
    "LoginIn": {"tenant": "ofek", "username": "nobody", "password": "not the password"},
    "QueueIn": {"name": "fuzzed"},
    "HoursIn": {"name": "fuzzed", "timezone": "UTC"},
    "RouteIn": {"did": "+97235551234", "queue_id": 999999},
    "AgentIn": {"username": "fuzzed", "display_name": "Fuzzed"},
    "AgentStateIn": {"state": "logged_out"},
    "TransferIn": {"queue_id": 999999},
    "ClickToCallIn": {"number": "+972545551234"},
    "LegalHoldIn": {"call_id": 999999, "reason": "fuzzing"},
    "VerificationIn": {"questions": ["date_of_birth"]},
}


# --- the walk over the OpenAPI document ------------------------------------------------------


async def test_every_operation_answers_hostile_input_with_a_documented_4xx(
    admin: ApiClient,
) -> None:
    status, document = await admin.call("GET", "/openapi.json")
    assert status == 200
    failures: list[str] = []
    sent = 0

    async def send(method: str, path: str, body: bytes | None, query: dict[str, str]) -> None:
        nonlocal sent
        sent += 1
        what = f"{method} {path} {query or ''} {(body or b'')[:60]!r}"
        try:
            status, _ = await admin.send(method, path, body, **query)
        except Exception as exc:  # an undocumented status, an answer that is not JSON
            failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        if status >= 500:
            failures.append(f"{what}: {status}")

    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            method = method.upper()
            if operation["operationId"] == "logout":
                continue  # it would end the session the walk runs on
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            queries = {p["name"]: p["schema"] for p in operation.get("parameters", [])
                       if p["in"] == "query"}  # fmt: skip
            schema = _request_schema(operation, document)
            body = _encode(_example(schema, document)) if schema else None
            base_query = {name: _query_example(name, s) for name, s in queries.items()
                          if name in BASE_QUERY or name in ("from", "to")}  # fmt: skip

            def path_with(
                template: str = template, names: list[str] = names, **values: str
            ) -> str:
                path = template.removeprefix(PREFIX)
                for name in names:
                    path = path.replace("{" + name + "}", values.get(name, SAFE_PATH_ID))
                return path

            for name in names:
                for value in HOSTILE_PATH_IDS:
                    await send(method, path_with(**{name: value}), body, base_query)
            for name in queries:
                for value in HOSTILE_QUERY_VALUES:
                    await send(method, path_with(), body, base_query | {name: value})
            if schema is None:
                continue
            for raw in HOSTILE_BODIES:
                await send(method, path_with(), raw, base_query)
            base = _example(schema, document)
            for field in _properties(schema, document):
                for value in HOSTILE_VALUES:
                    await send(method, path_with(), _encode(base | {field: value}), base_query)
    assert failures == [], f"{len(failures)} of {sent} requests:\n" + "\n".join(failures[:40])
    assert sent > 2000


def test_every_integer_a_request_carries_is_bounded_to_a_bigint() -> None:
    document = build_api().document()
    unbounded = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                kind, maximum = param["schema"].get("type"), param["schema"].get("maximum", 2**64)
                if kind == "integer" and maximum > BIGINT_MAX:
                    unbounded.append(f"{method} {path} ?{param['name']}")
            schema = _request_schema(operation, document)
            if schema is not None:
                for where, node in _integers(schema, document, "body"):
                    maximum = node.get("maximum", node.get("exclusiveMaximum", 2**64))
                    if maximum > BIGINT_MAX:
                        unbounded.append(f"{method} {path} {where}")
    assert unbounded == []


# --- the cases as they were found ------------------------------------------------------------


@pytest.mark.parametrize("raw", [DEEP_LIST, DEEP_OBJECT])
async def test_deeply_nested_json_at_sign_in_is_a_400(site: Site, raw: bytes) -> None:
    client = site.client()
    try:
        status, body = await client.send("POST", "/auth/login", raw)
    finally:
        await client.close()
    assert status == 400 and body["error"]["code"] == "bad_json"


async def test_a_body_nested_past_the_cap_is_a_400_even_when_python_could_parse_it(
    admin: ApiClient,
) -> None:
    nested = {"name": "q", "required_skills": json.loads("[" * 40 + "]" * 40)}
    status, body = await admin.send("POST", "/queues", json.dumps(nested).encode())
    assert status == 400 and body["error"]["message"] == "the body nests too deeply"


# Each list below is walked in one test (one site per database, not one per value); a
# failure names every value that was answered wrongly.
UNHELD_PATH_IDS = [f"/queues/{2**63}", f"/agents/{2**64}", "/queues/²", "/agents/١",
                   "/routes/%00", f"/credits/{2**63}/approve"]  # fmt: skip
OUT_OF_RANGE_QUERIES = [
    ("/calls", {"before_id": str(2**63)}),
    ("/calls", {"agent_id": str(-(2**63) - 1)}),
    ("/calls", {"queue_id": "²"}),
    ("/credits", {"account_id": str(2**64)}),
    ("/credits", {"account_id": "²"}),
    ("/calls", {"from": "0001-01-01T00:00:00+14:00"}),
    ("/calls", {"outcome": "a\x00b"}),
    ("/reports/credits", {"from": "0001-01-01T00:00:00+14:00", "to": "2026-01-01T00:00Z"}),
    ("/reports/credits", {"from": "2026-01-01T00:00Z", "to": "9999-12-31T23:59:59-14:00"}),
]


async def test_a_path_id_no_bigint_holds_is_not_found(admin: ApiClient) -> None:
    wrong = []
    for path in UNHELD_PATH_IDS:
        method = "POST" if path.endswith("approve") else "GET"
        status, body = await admin.call(method, path)
        if status != 404 or body["error"]["code"] != "not_found":
            wrong.append((path, status, body))
    assert wrong == []


async def test_a_query_value_out_of_range_is_a_422(admin: ApiClient) -> None:
    wrong = []
    for path, query in OUT_OF_RANGE_QUERIES:
        status, body = await admin.call("GET", path, **query)
        if status != 422 or body["error"]["code"] != "invalid":
            wrong.append((path, query, status, body))
    assert wrong == []


async def test_a_credit_amount_must_be_a_strict_integer_and_nothing_is_granted(
    site: Site, admin: ApiClient
) -> None:
    world = site.world
    await make_customer(world.database, world.tenant_id, "C-1", "Dana", [],
                        [{"ref": "A-1", "currency": "ILS", "balance_minor": 5000}])  # fmt: skip
    account = await _account_id(site)
    for amount in (True, "100", 100.0, 2**63):
        body = {"account_id": account, "amount_minor": amount, "reason_code": _reason()}
        status, answer = await admin.call("POST", "/credits", body)
        assert status == 422, (amount, status, answer)
        assert answer["error"]["details"][0]["field"] == "amount_minor", amount
        async with world.database.tenant_session(world.tenant_id) as session:
            assert list(await session.scalars(select(Credit))) == [], amount


async def test_an_id_in_a_body_must_be_a_strict_integer_a_bigint_holds(admin: ApiClient) -> None:
    wrong = []
    for ident in (True, "1", 1.0, 2**63, 2**64, -(2**63) - 1, 0):
        body = {"account_id": ident, "amount_minor": 100, "reason_code": _reason()}
        status, answer = await admin.call("POST", "/credits", body)
        if status != 422 or answer["error"]["details"][0]["field"] != "account_id":
            wrong.append((ident, status, answer))
    assert wrong == []


async def test_a_personal_credit_limit_must_be_a_strict_integer_a_bigint_holds(
    admin: ApiClient,
) -> None:
    wrong = []
    for limit in (2**63, True, "5000", 5000.0):
        body = {"username": "dana", "display_name": "Dana", "credit_limit_minor": limit}
        status, answer = await admin.call("POST", "/agents", body)
        if status != 422 or answer["error"]["details"][0]["field"] != "credit_limit_minor":
            wrong.append((limit, status, answer))
    assert wrong == []


async def test_a_flag_is_not_a_number(admin: ApiClient) -> None:
    body = {"name": "q", "autopause": 1}
    status, answer = await admin.call("POST", "/queues", body)
    assert status == 422 and answer["error"]["details"][0]["field"] == "autopause"


# --- free text -------------------------------------------------------------------------------


async def test_a_card_number_typed_into_a_disposition_note_is_stored_masked(
    site: Site, admin: ApiClient
) -> None:
    record = await _call_row(site)
    note = "caller read out 4242 4242 4242 4242 exp 12/30\nwill call back on 050-234-5678"
    body = {"disposition": "paid 4111111111111111", "notes": note}
    status, row = await admin.call("PUT", f"/calls/{record}/disposition", body)
    assert status == 200
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        stored = await session.get(Call, record)
        assert stored is not None
        assert stored.notes == (
            "caller read out **** **** **** 4242 exp 12/30\nwill call back on 050-234-5678"
        )
        assert stored.disposition == "paid ************1111"
    assert row["disposition"] == "paid ************1111"


async def test_a_name_typed_with_bidi_overrides_and_controls_is_stored_clean(
    site: Site, admin: ApiClient
) -> None:
    body = {"username": "dana", "display_name": "\u202eDana\u202c\tLevi\u2066 "}
    status, created = await admin.call("POST", "/agents", body)
    assert status == 201 and created["display_name"] == "Dana Levi"
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        user = await session.scalar(select(User).where(User.username == "dana"))
        assert user is not None and user.display_name == "Dana Levi"


async def test_a_name_of_only_invisible_characters_is_refused(admin: ApiClient) -> None:
    body = {"username": "dana", "display_name": "\u202e\u2066"}
    status, answer = await admin.call("POST", "/agents", body)
    assert status == 422 and answer["error"]["details"][0]["field"] == "display_name"


async def test_a_credit_note_with_a_card_number_is_stored_masked(
    site: Site, admin: ApiClient
) -> None:
    world = site.world
    await make_customer(world.database, world.tenant_id, "C-1", "Dana", [],
                        [{"ref": "A-1", "currency": "ILS", "balance_minor": 5000}])  # fmt: skip
    body = {"account_id": await _account_id(site), "amount_minor": 100,
            "reason_code": _reason(), "note": "card 5555-5555-5555-4444 declined"}  # fmt: skip
    status, credit = await admin.call("POST", "/credits", body)
    assert status == 201 and credit["note"] == "card ****-****-****-4444 declined"
    async with world.database.tenant_session(world.tenant_id) as session:
        stored = await session.scalar(select(Credit))
        assert stored is not None and stored.note == "card ****-****-****-4444 declined"


# --- customer search -------------------------------------------------------------------------


async def test_customer_search_takes_wildcards_literally_and_refuses_nul(
    site: Site, admin: ApiClient
) -> None:
    world = site.world
    await make_customer(world.database, world.tenant_id, "C-1", "Dana Levi", [])
    await make_customer(world.database, world.tenant_id, "C-2", "100% Juice", [])
    for text in ("%%", "__", "%_%"):
        status, found = await admin.call("GET", "/customers", q=text)
        assert status == 200 and found["items"] == [], text
    status, found = await admin.call("GET", "/customers", q="0% j")
    assert [hit["ref"] for hit in found["items"]] == ["C-2"]
    for text in ("\x00\x00", "Da\x00"):
        status, answer = await admin.call("GET", "/customers", q=text)
        assert status == 422 and answer["error"]["details"][0]["field"] == "q"


# --- helpers ---------------------------------------------------------------------------------


def _reason() -> str:
    from billing_bridge.credits import REASON_CODES

    return next(iter(REASON_CODES))


async def _account_id(site: Site) -> int:
    from pbx.db.models import Account

    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        account = await session.scalar(select(Account))
        assert account is not None
        return account.id


async def _call_row(site: Site) -> int:
    async with site.world.database.tenant_session(site.world.tenant_id) as session, \
            session.begin():  # fmt: skip
        row = Call(channel_id="fuzz-1", caller_raw="0502345678", match="none")
        session.add(row)
        await session.flush()
        return row.id


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _request_schema(operation: dict[str, Any], document: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return content["schema"] if content else None


def _properties(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    return list(_resolve(schema, document).get("properties", {}))


def _example(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """A value the schema accepts: the hand-written body for a model that has one, else one
    built from the schema (the first choice, the least number, a short string)."""
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    if name in BASE_BODIES:
        return dict(BASE_BODIES[name])
    schema = _resolve(schema, document)
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            choices = [c for c in schema[key] if c.get("type") != "null"]
            return _example(choices[0], document) if choices else None
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: _example(properties[k], document) for k in schema.get("required", [])}
    if kind == "array":
        return [_example(schema["items"], document)] * schema.get("minItems", 0)
    if kind == "integer":
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if kind == "string":
        return "a" * max(schema.get("minLength", 1), 3)
    return None


def _query_example(name: str, schema: dict[str, Any]) -> str:
    if name in BASE_QUERY:
        return BASE_QUERY[name]
    if "enum" in schema:
        return str(schema["enum"][0])
    return "1" if schema.get("type") == "integer" else "ab"


def _integers(schema: dict[str, Any], document: dict[str, Any], where: str,
              seen: frozenset[str] = frozenset()) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    """Every integer in a request schema, with where it is."""
    ref = schema.get("$ref")
    if ref in seen:
        return []
    node = _resolve(schema, document)
    seen = seen | {ref} if ref else seen
    found: list[tuple[str, dict[str, Any]]] = []
    if node.get("type") == "integer":
        found.append((where, node))
    for key in ("anyOf", "oneOf", "allOf"):
        for choice in node.get(key, []):
            found += _integers(choice, document, where, seen)
    for name, child in node.get("properties", {}).items():
        found += _integers(child, document, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _integers(node[key], document, f"{where}[]", seen)
    return found


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()
