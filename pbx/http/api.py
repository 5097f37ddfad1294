"""A small typed layer over aiohttp for `/api/v1`: each operation declares its role, its
request and response models and its status once, and from that the route is registered,
the body is validated, the caller is checked, and the OpenAPI document is written.

Errors are JSON `{"error": {"code", "message", "details"}}`; a validation error lists each
field's path and problem (never the submitted value: it may be a password).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from pbx.auth.roles import Principal, Role

PREFIX = "/api/v1"
PRINCIPAL = "principal"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        self.status, self.code, self.message, self.details = status, code, message, details
        super().__init__(message)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)


def invalid(field_path: str, problem: str) -> ApiError:
    return ApiError(422, "invalid", "the request is not valid",
                    [{"field": field_path, "problem": problem}])  # fmt: skip


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
        value = self.request.match_info[name]
        if not value.isdigit():
            raise not_found(f"{name} {value!r}")
        return int(value)

    @property
    def query(self) -> Any:
        return self.request.query

    @property
    def app(self) -> web.Application:
        return self.request.app


Handler = Callable[[ApiCall], Awaitable[Any]]


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
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method, path, summary, role, handler, body, response, status, tag, query,
                    errors,
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

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                principal = await authenticate(request)
                if principal is None and not public:
                    raise ApiError(401, "unauthenticated", "sign in first")
                if principal is not None and not public and not principal.at_least(op.role):
                    raise ApiError(403, "forbidden", f"this needs the {op.role.value} role")
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
                response = web.json_response(payload, status=op.status, dumps=_dumps)
            for name, (value, max_age) in call.response_cookies.items():
                response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                                    samesite="Strict", secure=request.secure)  # fmt: skip
            return response

        handle.__name__ = op.operation_id
        return handle

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document; schemas are JSON Schema 2020-12 from the models."""
        schemas: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}

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
            if (op.method, op.path) not in self.public:
                entry["security"] = [{"session": []}]
                entry["description"] = f"Requires the {op.role.value} role or above."
                entry["responses"]["401"] = {"description": "not signed in", **error}
                entry["responses"]["403"] = {"description": "role too low", **error}
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", op.path)
            ] + [
                {"name": q.name, "in": "query", "required": False, "schema": q.schema,
                 "description": q.description}
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
                },
            },
        }


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    if len(raw) > 1_000_000:
        raise ApiError(413, "too_large", "request body over 1 MB")
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise ApiError(422, "invalid", "the request is not valid", details) from None


def error_response(exc: ApiError) -> web.Response:
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return web.json_response(body, status=exc.status)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
