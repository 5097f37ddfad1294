"""A sign-in attempt under the limits: only a wrong password counts against anyone."""

from __future__ import annotations

from dataclasses import dataclass

from pbx.audit import Target, record
from pbx.auth.ratelimit import SignInLimits
from pbx.auth.roles import Principal
from pbx.auth.sessions import LoginFailed, SessionStore, SignedIn
from pbx.db.database import Database


class TooManyAttempts(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"too many wrong passwords; try again in {wait_s:.0f} s")
        self.wait_s = wait_s


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    tenant: str
    username: str
    password: str
    address: str  # the client's address (through trusted proxies), as the limits key it

    @property
    def user_key(self) -> str:
        return f"{self.tenant}:{self.username.lower()}"


async def attempt_sign_in(
    sessions: SessionStore, limits: SignInLimits, attempt: SignInAttempt
) -> SignedIn:
    """Raises `PasswordsBusy` (too many sign-ins at once: refused before any work),
    `TooManyAttempts` (nothing checked) or `LoginFailed` (counted)."""
    with sessions.passwords.admitted():
        wait = await limits.wait_s(attempt.user_key, attempt.address)
        if wait > 0:
            raise TooManyAttempts(wait)
        try:
            signed = await sessions.sign_in(attempt.tenant, attempt.username, attempt.password)
        except LoginFailed:
            await limits.failed(attempt.user_key, attempt.address)
            raise
        await limits.succeeded(attempt.user_key, attempt.address)
        return signed


async def record_sign_in(database: Database, principal: Principal, address: str) -> None:
    """A sign-in, audited in its business with the address it came from."""
    async with database.tenant_session(principal.tenant_id) as session, session.begin():
        record(session, tenant_id=principal.tenant_id, actor=principal, action="auth.login",
               target=Target("user", principal.user_id), details={"address": address})  # fmt: skip
