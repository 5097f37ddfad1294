"""A small typed layer over aiohttp for `/api/v1`: each operation declares its role, its
request and response models and its status once, and from that the route is registered,
the body is validated, the caller is checked, and the OpenAPI document is written.

Errors are JSON `{"error": {"code", "message", "details"}}`; a validation error lists each
field's path and problem (never the submitted value: it may be a password).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from pbx import refusals as refused
from pbx.auth.roles import Principal, Role
from pbx.instants import NotAnInstant, parse_instant

PREFIX = "/api/v1"
PRINCIPAL = "principal"
# Request key: whether cookies set in the answer get Secure (https directly, through a trusted
# proxy, or forced by settings); plain `request.secure` when nothing set it.
SECURE_COOKIES = web.RequestKey("secure_cookies", bool)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}  # e.g. Retry-After with a 429 or 503
        super().__init__(message)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def invalid(field_path: str, problem: str) -> ApiError:
    return ApiError(422, "invalid", "the request is not valid",
                    [{"field": field_path, "problem": problem}])  # fmt: skip


@contextmanager
def refusals() -> Iterator[None]:
    """A service's refusals (`pbx.refusals`) as status codes: the one place they are mapped."""
    try:
        yield
    except refused.NotFound as exc:
        raise not_found(exc.what) from None
    except refused.Forbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except refused.BadReference as exc:
        raise invalid(exc.field, exc.problem) from None
    except refused.Conflict as exc:
        raise conflict(str(exc)) from None


# What the database's BIGINT columns (every id and amount) hold: a larger integer overflows
# the driver (a 500) instead of matching nothing.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# A request body nests this deep at most (ours nest three levels); deeper is not ours, and
# Python's parser would recurse until it fails.
MAX_BODY_DEPTH = 32
MAX_BODY_BYTES = 1_000_000
_READ_CHUNK = 64 * 1024
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def id_or_none(text: str) -> int | None:
    """A row id written in ASCII digits that a BIGINT holds, or None."""
    if not _INTEGER.fullmatch(text) or text.startswith("-"):
        return None
    value = int(text)
    return value if 1 <= value <= BIGINT_MAX else None


def parse_query_int(text: str, name: str, schema: dict[str, Any] | None = None) -> int:
    """An integer query value in ASCII digits within the schema's bounds (BIGINT's if none):
    `int()` alone takes `1_000`, ` 7 ` and other scripts' digits."""
    schema = schema or {}
    low = schema.get("minimum", BIGINT_MIN)
    high = schema.get("maximum", BIGINT_MAX)
    if not _INTEGER.fullmatch(text):
        raise invalid(name, "must be an integer")
    value = int(text)
    if not low <= value <= high:
        raise invalid(name, f"must be between {low} and {high}")
    return value


def parse_query_time(text: str, name: str) -> datetime:
    """An ISO 8601 date-time with its UTC offset, as UTC. Year 1 at +14:00 is before year 1
    in UTC, which Python cannot represent: refused, like any text that is not a time."""
    try:
        return parse_instant(text)
    except NotAnInstant as exc:
        raise invalid(name, str(exc)) from None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


@dataclass
class ApiCall:
    """What a handler receives."""

    request: web.Request
    principal: Principal
    body: Any = None
    # name -> (value, max-age seconds); max-age 0 deletes the cookie.
    response_cookies: dict[str, tuple[str, int]] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def path_int(self, name: str) -> int:
        """A row id from the path; anything no id column can hold (`²`, `0`, 2**63) is a
        row that does not exist."""
        value = self.request.match_info[name]
        ident = id_or_none(value)
        if ident is None:
            raise not_found(name)
        return ident

    @property
    def query(self) -> Any:
        return self.request.query

    @property
    def app(self) -> web.Application:
        return self.request.app


Handler = Callable[[ApiCall], Awaitable[Any]]


@dataclass(frozen=True)
class Guard:
    """Who may call an operation other than through a user's session (the platform
    operator's tokens): the scheme the document names, and how a request is authenticated.
    The caller it returns is the handler's `call.principal`; it has no role to check."""

    scheme: str
    description: str
    authenticate: Callable[[web.Request], Awaitable[Any]]
    # The scopes a caller's credential must hold (an API key's); `authenticate` gives 403
    # to one without them. Named in the document's security requirement.
    scopes: tuple[str, ...] = ()


def authorization_bearer(request: web.Request) -> str | None:
    """The secret an `Authorization: Bearer ...` header carries: None without the header,
    with another scheme, or with nothing after it."""
    scheme, _, secret = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    role: Role
    handler: Handler
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tag: str = ""
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()  # error statuses beyond the ones every operation may give
    guard: Guard | None = None  # None: a user's session, with `role`

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@dataclass
class Api:
    title: str
    version: str
    operations: list[Operation] = field(default_factory=list)
    # Operations open without a session (sign-in): method, path.
    public: set[tuple[str, str]] = field(default_factory=set)

    def operation(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        role: Role = Role.AGENT,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        tag: str = "",
        query: tuple[QueryParam, ...] = (),
        public: bool = False,
        errors: tuple[int, ...] = (),
        guard: Guard | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method, path, summary, role, handler, body, response, status, tag, query,
                    errors, guard,
                )
            )  # fmt: skip
            if public:
                self.public.add((method, path))
            return handler

        return register

    def routes(
        self, authenticate: Callable[[web.Request], Awaitable[Principal | None]]
    ) -> list[web.RouteDef]:
        return [
            web.route(op.method, PREFIX + op.path, self._wrap(op, authenticate))
            for op in self.operations
        ]

    def _wrap(
        self, op: Operation, authenticate: Callable[[web.Request], Awaitable[Principal | None]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        public = (op.method, op.path) in self.public
        check = op.guard.authenticate if op.guard else authenticate

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                principal = await check(request)
                if principal is None and not public:
                    raise ApiError(401, "unauthenticated", "sign in first")
                if (principal is not None and not public and op.guard is None
                        and not principal.at_least(op.role)):  # fmt: skip
                    raise ApiError(403, "forbidden", f"this needs the {op.role.value} role")
                _check_path(request)
                _check_query(request, op.query)
                body = await _body(request, op.body) if op.body else None
                call = ApiCall(request, principal, body)  # type: ignore[arg-type]
                result = await op.handler(call)
            except ApiError as exc:
                return error_response(exc)
            if isinstance(result, web.StreamResponse):  # a file, streamed as it is
                return result
            if op.status == 204 or result is None:
                response: web.Response = web.Response(status=204)
            else:
                payload = (
                    result.model_dump(mode="json") if isinstance(result, BaseModel) else result
                )
                response = web.json_response(payload, status=op.status, dumps=dumps)
            for name, (value, max_age) in call.response_cookies.items():
                response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                                    samesite="Strict",
                                    secure=request.get(SECURE_COOKIES, request.secure))  # fmt: skip
            return response

        handle.__name__ = op.operation_id
        return handle

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document; schemas are JSON Schema 2020-12 from the models."""
        schemas: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}
        schemes: dict[str, Any] = {}

        def ref(model: type[BaseModel]) -> dict[str, str]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        error = {"content": {"application/json": {"schema": ref(ErrorResponse)}}}
        for op in self.operations:
            entry: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": op.summary,
                "tags": [op.tag] if op.tag else [],
                "responses": {},
            }
            if op.guard is not None:
                schemes[op.guard.scheme] = {"type": "http", "scheme": "bearer",
                                            "description": op.guard.description}  # fmt: skip
                entry["security"] = [{op.guard.scheme: list(op.guard.scopes)}]
                entry["description"] = op.guard.description
                entry["responses"]["401"] = {"description": "no valid token", **error}
                # With a session cookie too, a change from another site is refused (CSRF).
                refused = "scope missing" if op.guard.scopes else "cross-site request"
                entry["responses"]["403"] = {"description": refused, **error}
            elif (op.method, op.path) not in self.public:
                entry["security"] = [{"session": []}]
                entry["description"] = f"Requires the {op.role.value} role or above."
                entry["responses"]["401"] = {"description": "not signed in", **error}
                entry["responses"]["403"] = {"description": "role too low", **error}
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", op.path)
            ] + [
                {"name": q.name, "in": "query", "required": False,
                 "schema": _bounded(q.schema), "description": q.description}
                for q in op.query
            ]  # fmt: skip
            if parameters:
                entry["parameters"] = parameters
            if op.query:
                entry["responses"]["422"] = {"description": "invalid query", **error}
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(op.body)}},
                }
                entry["responses"]["422"] = {"description": "invalid request", **error}
                entry["responses"]["400"] = {"description": "not JSON", **error}
                entry["responses"]["413"] = {"description": "body too large", **error}
            if op.response is not None and op.status != 204:
                entry["responses"][str(op.status)] = {
                    "description": "success",
                    "content": {"application/json": {"schema": ref(op.response)}},
                }
            elif op.status != 204:  # a document of its own shape (this one)
                entry["responses"][str(op.status)] = {
                    "description": "success",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            else:
                entry["responses"]["204"] = {"description": "done"}
            for status in (404, 409, 503, *op.errors):
                text = HTTPStatus(status).phrase
                entry["responses"].setdefault(str(status), {"description": text, **error})
            paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "session": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "the token from POST /api/v1/auth/login",
                    },
                    **schemes,
                },
            },
        }


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """An integer query parameter's schema with the bounds the layer holds it to."""
    if schema.get("type") != "integer":
        return schema
    return {"minimum": BIGINT_MIN, "maximum": BIGINT_MAX} | schema


def _check_path(request: web.Request) -> None:
    """No path value with a NUL or other control character names anything."""
    for name, value in request.match_info.items():
        if _CONTROL.search(value):
            raise not_found(name)


def _check_query(request: web.Request, declared: tuple[QueryParam, ...]) -> None:
    """Each declared query value is what its schema says (an integer within range, a
    date-time that exists in UTC, one of an enum, long enough); no value carries a NUL,
    which PostgreSQL refuses in text. Undeclared parameters are never read."""
    for param in declared:
        value = request.query.get(param.name)
        if value is None:
            continue
        if "\x00" in value:
            raise invalid(param.name, "must not contain NUL")
        schema = param.schema
        if schema.get("type") == "integer":
            parse_query_int(value, param.name, schema)
        elif schema.get("format") == "date-time":
            parse_query_time(value, param.name)
        elif "enum" in schema and value not in schema["enum"]:
            raise invalid(param.name, "must be one of " + ", ".join(map(str, schema["enum"])))
        elif len(value) < schema.get("minLength", 0):
            raise invalid(param.name, f"at least {schema['minLength']} characters")
        elif len(value) > schema.get("maxLength", len(value)):
            raise invalid(param.name, f"at most {schema['maxLength']} characters")


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:  # over aiohttp's own limit (client_max_size)
        raise ApiError(413, "too_large", "request body over 1 MB") from None
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", "request body over 1 MB")
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "the body must be a JSON object")
    try:
        # Strict: `true`, "100" and 100.0 are not integers, "1" is not a boolean.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise ApiError(422, "invalid", "the request is not valid", details) from None


async def read_body(request: web.Request, limit: int, what: str = "request body") -> bytes:
    """The whole body, read until its end (one `read(n)` returns what has arrived so far,
    which cut large bodies short); over `limit` bytes is 413, naming `what` it is, as soon as
    its length says so or the bytes read pass it."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(what, limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(what, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, limit: int) -> ApiError:
    return ApiError(413, "too_large", f"{what} over {limit:,} bytes")


def parse_json(raw: bytes) -> Any:
    """A JSON document held to the layer's rules (400 `bad_json` for what is not JSON or
    nests too deeply, 422 for a NUL in a string or key): a body, or one line of a batch."""
    try:
        data = json.loads(raw or b"null", parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, "bad_json", "the body nests too deeply") from None
    except ValueError:  # not JSON, not UTF-8, NaN, or an integer of thousands of digits
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    _check_shape(data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_shape(data: Any) -> None:
    """At most MAX_BODY_DEPTH levels, and no NUL in any string or key (PostgreSQL refuses
    NUL in text, and no field of ours means one). Iterative: the body may be hostile."""
    # (value, its depth, its parent's entry, its key): the path is spelled only for an error.
    stack: list[tuple[Any, int, Any, Any]] = [(data, 1, None, None)]
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        if isinstance(value, str):
            if "\x00" in value:
                raise invalid(_where(entry), "must not contain NUL")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_BODY_DEPTH:
            raise ApiError(400, "bad_json", "the body nests too deeply")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                raise invalid(_where(entry), "a key must not contain NUL")
            stack.append((item, depth + 1, entry, key))


def _where(entry: tuple[Any, int, Any, Any]) -> str:
    keys = []
    while entry[2] is not None:
        keys.append(str(entry[3]).replace("\x00", ""))
        entry = entry[2]
    return ".".join(reversed(keys)) or "(body)"


def error_response(exc: ApiError) -> web.Response:
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return web.json_response(body, status=exc.status, headers=exc.headers)


def dumps(value: Any) -> str:
    """JSON as the API writes it: compact, not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
