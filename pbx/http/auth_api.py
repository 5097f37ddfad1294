"""Sign-in, sign-out, who am I, and the OpenAPI document."""

from __future__ import annotations

from typing import Optional

from aiohttp import web

from pbx.auth.passwords import PasswordsBusy
from pbx.auth.ratelimit import retry_after
from pbx.auth.roles import Principal, Role
from pbx.auth.sessions import LoginFailed
from pbx.auth.signin import SignInAttempt, TooManyAttempts, attempt_sign_in, record_sign_in
from pbx.http.api import Api, ApiCall, ApiError, authorization_bearer
from pbx.http.context import context
from pbx.http.schemas import LoginIn, LoginOut, Me

COOKIE = "ll_session"


# The bearer token's user, looked up once per request (the CSRF check, then the operation).
_BEARER_PRINCIPAL = web.RequestKey("bearer_principal", Optional[Principal])  # noqa: UP045


def bearer_token(request: web.Request) -> str | None:
    """The session token the request carries: with an Authorization header, its bearer
    token and nothing else (the cookie is not a fallback for a header that is not one);
    without, the session cookie."""
    if "Authorization" in request.headers:
        return authorization_bearer(request)
    return request.cookies.get(COOKIE) or None


async def bearer_principal(request: web.Request) -> Principal | None:
    """Who the Authorization header's bearer token belongs to (None: no header, not a bearer
    token, or not a valid one)."""
    if _BEARER_PRINCIPAL not in request:
        token = authorization_bearer(request)
        request[_BEARER_PRINCIPAL] = (
            await context(request).sessions.principal(token) if token else None
        )
    return request[_BEARER_PRINCIPAL]


async def authenticate(request: web.Request) -> Principal | None:
    if "Authorization" in request.headers:
        return await bearer_principal(request)
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
        address = call.request.remote or "-"  # the client's, through trusted proxies
        attempt = SignInAttempt(body.tenant, body.username, body.password, address)
        try:
            signed = await attempt_sign_in(ctx.sessions, ctx.login_limiter, attempt)
        except TooManyAttempts as exc:
            wait = {"Retry-After": str(retry_after(exc.wait_s))}
            raise ApiError(429, "too_many_attempts", "too many wrong passwords; wait",
                           headers=wait) from None  # fmt: skip
        except PasswordsBusy:
            raise ApiError(503, "sign_in_busy", "too many sign-ins at once; try again shortly",
                           headers={"Retry-After": "1"}) from None  # fmt: skip
        except LoginFailed:
            raise ApiError(401, "login_failed", "unknown user or wrong password") from None
        p = signed.principal
        await record_sign_in(ctx.database, p, address)
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
