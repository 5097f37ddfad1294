"""The HTTP side: authentication, the route registry, parameter reading, error mapping.

Each route is declared once with the query parameters it reads; `Query` refuses to read any
other, so the declaration is the truth the spec test checks against api-docs. Handlers only
translate: parse parameters, call the model or the simulator, render the result.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pbx.simulator.ari import render
from pbx.simulator.ari.state import AriError

if TYPE_CHECKING:
    from pbx.simulator.ari.simulator import AsteriskSimulator

PREFIX = "/ari"
# ast_true(): the strings Asterisk reads as a true boolean parameter
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    content_type: str = "application/json"


def ok(body: Any) -> Reply:
    return Reply(200, body)


def created(body: Any) -> Reply:
    return Reply(201, body)


def no_content() -> Reply:
    return Reply(204)


class Query:
    """The query parameters of one request, readable only if the route declared them.

    As in Asterisk's generated `*_parse_body`, fields of a JSON body fill parameters the
    query string did not give.
    """

    def __init__(self, request: web.Request, declared: tuple[str, ...], body: dict[str, Any]):
        self._request = request
        self._declared = declared
        self._body = body

    def _values(self, name: str) -> list[str]:
        if name not in self._declared:
            raise LookupError(f"{name!r} is not a declared parameter of this route")
        values = self._request.query.getall(name, [])
        if not values and name in self._body and not isinstance(self._body[name], dict | list):
            values = [str(self._body[name])]
        return values

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values(name)
        return values[-1] if values else default

    def required(self, name: str, message: str) -> str:
        value = self.get(name)
        if not value:
            raise AriError(400, message)
        return value

    def integer(self, name: str, default: int = 0) -> int:
        """atoi(): what Asterisk makes of a number parameter (garbage is 0)."""
        value = self.get(name)
        if value is None:
            return default
        digits = value.strip()
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        number = ""
        for char in digits:
            if not char.isdigit():
                break
            number += char
        return sign * int(number) if number else 0

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        return default if value is None else value.strip().lower() in _TRUE

    def many(self, name: str) -> list[str]:
        """An `allowMultiple` parameter: repeated and/or comma separated."""
        return [part for value in self._values(name) for part in value.split(",") if part]

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body as a whole (an operation whose body parameter is the body)."""
        return self._body

    def body_object(self, key: str) -> dict[str, Any]:
        value = self._body.get(key) or {}
        if not isinstance(value, dict):
            raise AriError(400, f"'{key}' must be an object")
        return value


@dataclass
class Call:
    """What a handler gets: path parameters, query, the simulator."""

    request: web.Request
    query: Query
    sim: AsteriskSimulator

    def path(self, name: str) -> str:
        return self.request.match_info[name]


Handler = Callable[[Call], Awaitable[Reply | web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as in api-docs, e.g. /channels/{channelId}/dtmf
    params: tuple[str, ...]
    handler: Handler


class Registry:
    """The routes, each with the query parameters it reads."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, *params: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, params, handler))
            return handler

        return register


def _as_response(reply: Reply | web.StreamResponse) -> web.StreamResponse:
    if isinstance(reply, web.StreamResponse):
        return reply
    if reply.body is None:
        return web.Response(status=reply.status)
    return web.json_response(reply.body, status=reply.status)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _endpoint(operation: Operation, sim: AsteriskSimulator) -> Callable[..., Awaitable[Any]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                parsed = json.loads(await request.text() or "{}")
            except ValueError:
                return error(400, "Invalid JSON body")
            body = parsed if isinstance(parsed, dict) else {}
        call = Call(request, Query(request, operation.params, body), sim)
        try:
            return _as_response(await operation.handler(call))
        except AriError as exc:
            return error(exc.status, exc.message)

    handle.operation = operation  # type: ignore[attr-defined]  # read by the spec test
    return handle


def _authorised(request: web.Request, username: str, password: str) -> bool:
    """HTTP Basic, or `api_key=user:pass` in the query string (both as res_ari accepts)."""
    if request.query.get("api_key") == f"{username}:{password}":
        return True
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{username}:{password}"


def build_app(sim: AsteriskSimulator, registries: list[Registry]) -> web.Application:
    @web.middleware
    async def ari(request: web.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
        if sim.timing.rest_delay:
            await asyncio.sleep(sim.timing.rest_delay)
        response = await _guarded(request, handler)
        params = {k: v for k, v in request.query.items() if k != "api_key"}
        path = request.path.removeprefix(PREFIX)
        sim.requests.append((request.method, path, params, response.status))
        return response

    async def _guarded(request: web.Request, handler: Callable[..., Awaitable[Any]]) -> Any:
        if not _authorised(request, sim.username, sim.password):
            response = error(401, "Authentication required")
            response.headers["WWW-Authenticate"] = 'Basic realm="Asterisk REST Interface"'
            return response
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed:
            return error(405, "Invalid method")
        except web.HTTPNotFound:
            return error(404, "Resource not found")

    app = web.Application(middlewares=[ari])
    for registry in registries:
        for operation in registry.operations:
            app.router.add_route(
                operation.method, PREFIX + operation.path, _endpoint(operation, sim)
            )
    return app


# --- /asterisk, /applications, /events ----------------------------------------------------

system = Registry()


@system.route("GET", "/asterisk/info", "only")
async def asterisk_info(call: Call) -> Reply:
    only = call.query.many("only")
    return ok(render.asterisk_info(call.sim.asterisk_id, call.sim.model.started, only))


@system.route("GET", "/applications/{applicationName}")
async def application(call: Call) -> Reply:
    return ok(call.sim.model.application(call.path("applicationName")))


@system.route("PUT", "/applications/{applicationName}/eventFilter")
async def event_filter(call: Call) -> Reply:
    app = call.path("applicationName")
    call.sim.model.filter_events(app, call.query.body)
    return ok(call.sim.model.application(app))


@system.route("GET", "/events", "app", "subscribeAll")
async def events(call: Call) -> web.StreamResponse:
    apps = call.query.many("app")
    if not apps:
        raise AriError(400, "Missing param 'app'")
    return await call.sim.hub.serve(call.request, apps, call.query.boolean("subscribeAll"))
