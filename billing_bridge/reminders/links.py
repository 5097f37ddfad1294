"""The links every reminder carries: the opt-out link, a token signed with the installation's
secret (`pbx.installation_secret`, its own derived key) naming the business and the customer.

The token never expires: a customer may opt out from a message of last year. It says nothing
but two ids and cannot be forged without the secret; a token for one business's customer is
refused by another's id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from pbx.installation_secret import InstallationSecret, derive

PURPOSE = "reminders:opt-out"
OPT_OUT_PATH = "/api/v1/reminders/opt-out/"
_TOKEN = re.compile(r"([1-9]\d{0,17})\.([1-9]\d{0,17})\.([A-Za-z0-9_-]{43})")


class OptOutTokenError(ValueError):
    """A token that is malformed or not signed by this installation."""


@dataclass(frozen=True, slots=True)
class OptOutOf:
    tenant_id: int
    customer_id: int


def _mac(key: bytes, tenant_id: int, customer_id: int) -> str:
    digest = hmac.new(key, f"{tenant_id}.{customer_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class OptOutLinks:
    """Makes and checks opt-out links; `public_url` is where customers reach this service."""

    def __init__(self, secret: InstallationSecret, public_url: str) -> None:
        self._secret = secret
        self.public_url = public_url.rstrip("/")

    async def _key(self, *, fresh: bool = False) -> bytes:
        secret = await (self._secret.reload() if fresh else self._secret.get())
        return derive(secret, PURPOSE)

    async def token(self, tenant_id: int, customer_id: int) -> str:
        return f"{tenant_id}.{customer_id}.{_mac(await self._key(), tenant_id, customer_id)}"

    async def link(self, tenant_id: int, customer_id: int) -> str:
        return self.public_url + OPT_OUT_PATH + await self.token(tenant_id, customer_id)

    async def check(self, token: str) -> OptOutOf:
        """Whom the token opts out, or `OptOutTokenError` (never naming the token)."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise OptOutTokenError("malformed opt-out link")
        tenant_id, customer_id = int(match[1]), int(match[2])
        for fresh in (False, True):  # another process may have made a new secret
            expected = _mac(await self._key(fresh=fresh), tenant_id, customer_id)
            if hmac.compare_digest(expected, match[3]):
                return OptOutOf(tenant_id, customer_id)
        raise OptOutTokenError("this opt-out link was not issued here")
