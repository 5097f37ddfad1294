"""A business's API keys (`/api/v1/api-keys`, admins only) and the operations machine clients
reach with one (`Authorization: Bearer llk_...`). A key is accepted only where an operation's
guard names a scope, and refused (401) everywhere else; a user's session or a platform token
is refused (401) where a key is needed, and a key without the scope gets 403. Handlers parse,
call `pbx.admin.api_keys` and map its refusals in `_refusals`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.admin import api_keys
from pbx.admin.errors import Conflict, NotFound
from pbx.auth.roles import Role
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
from pbx.http.schemas import line_text

Scope = Literal["billing:write", "billing:read", "events:read"]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


    name: line_text(64, 1)  # type: ignore[valid-type]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)]


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    scopes: list[str]
    created_by: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="the key itself: shown once, never again")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]


def key_guard(scope: str) -> Guard:
    """The guard of an operation a machine client calls with a key holding `scope`."""

    async def authenticate(request: web.Request) -> api_keys.KeyCaller | None:
        secret = authorization_bearer(request)
        if secret is None:
            return None
        caller = await api_keys.caller_for(context(request).database, secret, datetime.now(UTC))
        if caller is not None and scope not in caller.scopes:
            raise ApiError(403, "forbidden", f"this needs an API key with the {scope} scope")
        return caller

    return Guard("api_key", f"Requires an API key with the `{scope}` scope (an admin "
                 "creates it with POST /api/v1/api-keys).", authenticate, (scope,))  # fmt: skip


@asynccontextmanager
async def _change(call: ApiCall) -> AsyncIterator[AsyncSession]:
    """The admin's business's transaction for one change, with the API-key service's
    refusals as status codes: the one place they are mapped."""
    database = context(call.request).database
    try:
        tenant = call.principal.tenant_id
        async with database.tenant_session(tenant) as session, session.begin():
            yield session
    except NotFound as exc:
        raise not_found(exc.what) from None
    except (Conflict, IntegrityError):  # a name taken, or taken at the same moment
        raise conflict("an API key of that name exists") from None


def _out(view: api_keys.KeyView, model: type[ApiKeyOut] = ApiKeyOut, **extra: Any) -> Any:
    return model(id=view.id, name=view.name, prefix=view.prefix, scopes=list(view.scopes),
                 created_by=view.created_by, created_at=view.created_at,
                 last_used_at=view.last_used_at, revoked_at=view.revoked_at,
                 **extra)  # fmt: skip


def register(api: Api) -> None:
    @api.operation("POST", "/api-keys", summary="Create an API key for a machine client; "
                   "its secret is in this answer only", role=Role.ADMIN, body=ApiKeyIn,
                   response=ApiKeyCreated, status=201, tag="api-keys")  # fmt: skip
    async def create_api_key(call: ApiCall) -> ApiKeyCreated:
        body: ApiKeyIn = call.body
        tenant = call.principal.tenant_id
        async with _change(call) as session:
            view, secret = await api_keys.create_key(
                session, tenant_id=tenant, actor=call.principal,
                key=api_keys.NewKey(body.name, frozenset(body.scopes)), now=datetime.now(UTC))
        return cast(ApiKeyCreated, _out(view, ApiKeyCreated, secret=secret))

    @api.operation("GET", "/api-keys", summary="List the business's API keys (never their "
                   "secrets), revoked ones included", role=Role.ADMIN, response=ApiKeyList,
                   tag="api-keys")  # fmt: skip
    async def list_api_keys(call: ApiCall) -> ApiKeyList:
        database = context(call.request).database
        async with database.tenant_session(call.principal.tenant_id) as session:
            views = await api_keys.list_keys(session)
        return ApiKeyList(items=[_out(view) for view in views])

    @api.operation("POST", "/api-keys/{key_id}/revoke", summary="Revoke an API key: it is "
                   "refused from now on (and kept in the list)", role=Role.ADMIN,
                   response=ApiKeyOut, tag="api-keys")  # fmt: skip
    async def revoke_api_key(call: ApiCall) -> ApiKeyOut:
        key_id, tenant = call.path_int("key_id"), call.principal.tenant_id
        async with _change(call) as session:
            view = await api_keys.revoke_key(session, tenant_id=tenant, actor=call.principal,
                                             key_id=key_id, now=datetime.now(UTC))
        return cast(ApiKeyOut, _out(view))
