"""The desk from the API's side: the signed-in user as the desk's actor, a command run on
this process's desk, and the one place a desk refusal becomes an HTTP status."""

from __future__ import annotations

from pbx.auth.roles import Principal, Role
from pbx.desk import errors
from pbx.desk.commands import Actor, Command
from pbx.desk.results import Result
from pbx.http.api import ApiCall, ApiError
from pbx.http.context import context

STATUS: dict[type[errors.DeskError], int] = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.NotVerified: 403,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.Unavailable: 503,  # a load balancer may retry elsewhere
    errors.BadRequest: 400,
}


def api_error(exc: errors.DeskError) -> ApiError:
    return ApiError(STATUS.get(type(exc), 503), exc.code, exc.message)


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user_id, principal.tenant_id, principal.at_least(Role.SUPERVISOR),
                 principal.label)  # fmt: skip


async def run_on_desk(call: ApiCall, command: Command) -> Result:
    desk = context(call.request).desk
    if desk is None:
        raise ApiError(503, "no_call_control", "this Ledgerline has no Asterisk connection")
    try:
        return await desk.run(command, actor_of(call.principal))
    except errors.DeskError as exc:
        raise api_error(exc) from None
