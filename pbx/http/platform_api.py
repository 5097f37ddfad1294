"""The platform operator's API, `/api/v1/platform`: businesses created (with their numbers and
first admin), listed, read, changed, disabled and enabled. Authenticated by platform tokens
(`ledgerline platform token create`) only: a user's session is refused here, and a platform
token is refused everywhere else. Handlers parse, call `pbx.platform` and map its refusals
in `_refusals`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, cast

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pbx.http.api import (
    Api,
    ApiCall,
    ApiError,
    Guard,
    authorization_bearer,
    conflict,
    not_found,
)
from pbx.http.context import context
from pbx.platform import tenants, tokens
from pbx.platform.errors import DidTaken, Invalid, SlugTaken, UnknownTenant

Text = Annotated[str, Field(min_length=1, max_length=200)]
Did = Annotated[str, Field(min_length=1, max_length=20)]
Dids = Annotated[list[Did], Field(max_length=100)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminIn(_In):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    display_name: Text | None = None
    email: Annotated[str, Field(min_length=1, max_length=254)] | None = None


class TenantIn(_In):
    slug: Annotated[str, Field(min_length=1, max_length=64, examples=["ofek"])]
    name: Text
    region: Annotated[str, Field(min_length=1, max_length=8, examples=["IL"])]
    currency: Annotated[str, Field(min_length=1, max_length=8, examples=["ILS"])]
    timezone: Annotated[str, Field(min_length=1, max_length=64, examples=["Asia/Jerusalem"])]
    dids: Annotated[list[Did], Field(min_length=1, max_length=100)]
    admin: AdminIn
    # What callers hear (the caller channel's language); unset: en. A route may override it.
    language: Annotated[str, Field(min_length=1, max_length=8, examples=["he"])] | None = None


class TenantPatch(_In):
    name: Text | None = None
    region: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    currency: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    add_dids: Dids = Field(default_factory=list)
    remove_dids: Dids = Field(default_factory=list)
    language: Annotated[str, Field(min_length=1, max_length=8)] | None = None


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str
    region: str
    currency: str
    timezone: str
    disabled: bool
    dids: list[str]
    created_at: datetime
    language: str = "en"


class TenantList(BaseModel):
    items: list[TenantOut]


class ProvisionedOut(BaseModel):
    tenant: TenantOut
    admin_id: int
    set_password_url: str = Field(description="one-time; shown once; the admin sets a "
                                  "password through it before signing in")  # fmt: skip
    expires_at: datetime


async def platform_caller(request: web.Request) -> tokens.PlatformCaller | None:
    """The platform token in the Authorization header (never a cookie), or None."""
    secret = authorization_bearer(request)
    if secret is None:
        return None
    return await tokens.caller_for(context(request).database, secret, datetime.now(UTC))


GUARD = Guard("platform", "Requires a platform token (`ledgerline platform token create`).",
              platform_caller)  # fmt: skip


def link_base(request: web.Request) -> str:
    """Where this API is reached (through trusted proxies): the links point at its page."""
    return f"{request.scheme}://{request.host}"


@contextmanager
def _refusals() -> Iterator[None]:
    """The platform service's refusals as status codes: the one place they are mapped."""
    try:
        yield
    except Invalid as exc:
        details = [{"field": field, "problem": problem} for field, problem in exc.problems]
        raise ApiError(422, "invalid", "the request is not valid", details) from None
    except UnknownTenant:
        raise not_found("tenant") from None
    except (SlugTaken, DidTaken) as exc:
        raise conflict(str(exc)) from None


def _caller(call: ApiCall) -> tokens.PlatformCaller:
    return cast(tokens.PlatformCaller, call.principal)


def _out(view: tenants.TenantView) -> TenantOut:
    return TenantOut(id=view.id, slug=view.slug, name=view.name, region=view.region,
                     currency=view.currency, timezone=view.timezone, disabled=view.disabled,
                     dids=list(view.dids), created_at=view.created_at,
                     language=view.language)  # fmt: skip


def register(api: Api) -> None:
    @api.operation("POST", "/platform/tenants", summary="Create a business with its numbers "
                   "and first admin; returns the admin's one-time set-password link",
                   body=TenantIn, response=ProvisionedOut, status=201, tag="platform",
                   guard=GUARD)  # fmt: skip
    async def create_tenant(call: ApiCall) -> ProvisionedOut:
        body: TenantIn = call.body
        command = tenants.NewTenant(body.slug, body.name, body.region, body.currency,
                                    body.timezone, tuple(body.dids), body.admin.username,
                                    body.admin.display_name, body.admin.email,
                                    body.language)  # fmt: skip
        database = context(call.request).database
        with _refusals():
            done = await tenants.create_tenant(database, command, actor=_caller(call),
                                               now=datetime.now(UTC))  # fmt: skip
        return ProvisionedOut(tenant=_out(done.tenant), admin_id=done.admin_id,
                              set_password_url=done.link.url(link_base(call.request)),
                              expires_at=done.link.expires_at)  # fmt: skip

    @api.operation("GET", "/platform/tenants", summary="List businesses", response=TenantList,
                   tag="platform", guard=GUARD)  # fmt: skip
    async def list_tenants(call: ApiCall) -> TenantList:
        views = await tenants.list_tenants(context(call.request).database)
        return TenantList(items=[_out(view) for view in views])

    @api.operation("GET", "/platform/tenants/{slug}", summary="Read a business",
                   response=TenantOut, tag="platform", guard=GUARD)  # fmt: skip
    async def get_tenant(call: ApiCall) -> TenantOut:
        with _refusals():
            return _out(await tenants.get_tenant(context(call.request).database, call.path("slug")))

    @api.operation("PATCH", "/platform/tenants/{slug}", summary="Change a business's name, "
                   "region, currency or time zone; add or remove numbers", body=TenantPatch,
                   response=TenantOut, tag="platform", guard=GUARD)  # fmt: skip
    async def update_tenant(call: ApiCall) -> TenantOut:
        body: TenantPatch = call.body
        change = tenants.TenantChange(body.name, body.region, body.currency, body.timezone,
                                      tuple(body.add_dids), tuple(body.remove_dids),
                                      body.language)  # fmt: skip
        ctx = context(call.request)
        with _refusals():
            view = await tenants.update_tenant(ctx.database, call.path("slug"), change,
                                               actor=_caller(call))  # fmt: skip
        await ctx.config_changed(view.id, "tenant")  # numbers removed take their routes along
        return _out(view)

    _register_switches(api)


def _register_switches(api: Api) -> None:
    @api.operation("POST", "/platform/tenants/{slug}/disable", summary="Disable a business: "
                   "its calls get the dialplan's fallback, its users are signed out and cannot "
                   "sign in; nothing is deleted", response=TenantOut, tag="platform",
                   guard=GUARD)  # fmt: skip
    async def disable_tenant(call: ApiCall) -> TenantOut:
        return await _switch(call, disabled=True)

    @api.operation("POST", "/platform/tenants/{slug}/enable", summary="Enable a disabled "
                   "business again", response=TenantOut, tag="platform", guard=GUARD)  # fmt: skip
    async def enable_tenant(call: ApiCall) -> TenantOut:
        return await _switch(call, disabled=False)


async def _switch(call: ApiCall, *, disabled: bool) -> TenantOut:
    ctx = context(call.request)
    with _refusals():
        view = await tenants.set_disabled(ctx.database, call.path("slug"), disabled,
                                          actor=_caller(call))  # fmt: skip
    await ctx.config_changed(view.id, "tenant")
    return _out(view)
