"""One-time links: an admin invites a user or resets their password (the answer carries the
link, to hand over), and the user sets a password with the link's token. The token and the
password travel in the POSTed body, never in a URL that a server or proxy logs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pbx.admin.errors import NotFound
from pbx.auth.passwords import MIN_LENGTH, PasswordsBusy
from pbx.auth.roles import Role
from pbx.http.api import Api, ApiCall, ApiError, conflict, not_found
from pbx.http.context import context
from pbx.http.platform_api import link_base
from pbx.platform import links
from pbx.platform.errors import LinkNotValid, LinkRefused


class SetPasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=MIN_LENGTH, max_length=256)]


class LinkOut(BaseModel):
    url: str = Field(description="one-time; shown once; hand it to the user")
    purpose: str
    expires_at: datetime


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise not_found(exc.what) from None
    except LinkRefused as exc:
        raise conflict(str(exc)) from None
    except LinkNotValid as exc:
        raise ApiError(410, "link_not_valid", str(exc)) from None
    except PasswordsBusy:
        raise ApiError(503, "busy", "too many password changes at once; try again shortly",
                       headers={"Retry-After": "1"}) from None  # fmt: skip


def register(api: Api) -> None:
    @api.operation("POST", "/agents/{agent_id}/invitation", summary="A one-time link by which "
                   "a user without a password sets one", role=Role.ADMIN, response=LinkOut,
                   status=201, tag="agents")  # fmt: skip
    async def invite_agent(call: ApiCall) -> LinkOut:
        return await _link(call, links.invite)

    @api.operation("POST", "/agents/{agent_id}/password-reset", summary="Reset a user's "
                   "password: it stops working, and a one-time link sets a new one",
                   role=Role.ADMIN, response=LinkOut, status=201, tag="agents")  # fmt: skip
    async def reset_agent_password(call: ApiCall) -> LinkOut:
        out = await _link(call, links.reset)
        await context(call.request).sessions.sign_out_user(call.path_int("agent_id"))
        return out

    @api.operation("POST", "/auth/set-password", summary="Set a password with a one-time "
                   "link's token (the token in the body, never the URL)", body=SetPasswordIn,
                   status=204, tag="auth", public=True, errors=(410,))  # fmt: skip
    async def set_password(call: ApiCall) -> None:
        body: SetPasswordIn = call.body
        ctx, now = context(call.request), datetime.now(UTC)
        with _refusals(), ctx.sessions.passwords.admitted():
            await links.check(ctx.database, body.token, now)
            secret = await ctx.sessions.passwords.hash(body.password)
            await links.redeem(ctx.database, body.token, secret, datetime.now(UTC))


async def _link(call: ApiCall, issue: links.Issue) -> LinkOut:
    by, ctx, agent_id = call.principal, context(call.request), call.path_int("agent_id")
    with _refusals():
        async with ctx.database.tenant_session(by.tenant_id) as session, session.begin():
            link = await issue(session, tenant_id=by.tenant_id, actor=by, agent_id=agent_id,
                               now=datetime.now(UTC))  # fmt: skip
    return LinkOut(url=link.url(link_base(call.request)), purpose=link.purpose,
                   expires_at=link.expires_at)  # fmt: skip
