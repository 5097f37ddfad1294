"""Sign-in, sign-out, who am I, and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from pbx.auth.roles import Principal, Role
from pbx.auth.sessions import LoginFailed
from pbx.http.api import Api, ApiCall, ApiError
from pbx.http.context import audit, context
from pbx.http.schemas import LoginIn, LoginOut, Me

COOKIE = "ll_session"


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    return request.cookies.get(COOKIE) or None


async def authenticate(request: web.Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    return await context(request).sessions.principal(token)


def register(api: Api) -> None:
    @api.operation("POST", "/auth/login", summary="Sign in; returns a session token",
                   body=LoginIn, response=LoginOut, tag="auth", public=True,
                   errors=(401, 429))  # fmt: skip
    async def login(call: ApiCall) -> LoginOut:
        body: LoginIn = call.body
        ctx = context(call.request)
        address = call.request.remote or "-"
        keys = (f"user:{body.tenant}:{body.username.lower()}", f"addr:{address}")
        for key in keys:
            if not await ctx.login_limiter.allow(key):
                raise ApiError(429, "too_many_attempts", "too many sign-in attempts; wait")
        try:
            signed = await ctx.sessions.sign_in(body.tenant, body.username, body.password)
        except LoginFailed:
            raise ApiError(401, "login_failed", "unknown user or wrong password") from None
        await ctx.login_limiter.reset(keys[0])
        p = signed.principal
        async with ctx.database.tenant_session(p.tenant_id) as session, session.begin():
            audit(session, p, "auth.login", "user", p.user_id, {"address": address})
        # The browser's copy: HttpOnly (no script reads it) and same-site only; the desk's
        # WebSocket and page use it, API clients use the token.
        call.response_cookies[COOKIE] = (signed.token, int(
            (signed.expires_at - ctx.sessions.clock()).total_seconds()))  # fmt: skip
        return LoginOut(
            token=signed.token,
            expires_at=signed.expires_at,
            user=Me(user_id=p.user_id, tenant_id=p.tenant_id, username=p.username, role=p.role),
        )

    @api.operation("POST", "/auth/logout", summary="End this session", status=204, tag="auth")
    async def logout(call: ApiCall) -> None:
        token = bearer_token(call.request)
        if token:
            await context(call.request).sessions.sign_out(token)
        call.response_cookies[COOKIE] = ("", 0)

    @api.operation("GET", "/auth/me", summary="The signed-in user", response=Me, tag="auth")
    async def me(call: ApiCall) -> Me:
        p = call.principal
        return Me(user_id=p.user_id, tenant_id=p.tenant_id, username=p.username, role=p.role)

    @api.operation("GET", "/openapi.json", summary="This API's OpenAPI document",
                   role=Role.AGENT, tag="meta", public=True)  # fmt: skip
    async def openapi(call: ApiCall) -> dict:
        return api.document()
