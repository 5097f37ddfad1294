"""The screen-pop token: caller-lookup vouches for a caller, screen-pop checks the voucher.

FastAGI has no authentication: any process that reaches its port can ask for a screen-pop.
So a pop is accepted only for a caller that a caller-lookup of this deployment saw. The
lookup sets `LL_POP_TOKEN` on the caller's channel, the dialplan passes it to screen-pop
with the caller's uniqueid and `LL_CUSTOMER_ID`, and screen-pop pops only that customer,
only to that business's agents, and only before the token expires.

A token is `TENANT.EXPIRES.MAC`: MAC is HMAC-SHA256 (cut to 128 bits) over the business,
the caller's channel uniqueid, the customer found (empty for none) and the expiry (Unix
seconds), keyed with the installation's secret (`pbx/installation_secret.py`, derived for
this purpose alone). Dots and hex only: nothing a dialplan argument list would split.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256

from pbx.installation_secret import InstallationSecret, derive

PURPOSE = "screen-pop-token/v1"
# A caller may wait in app_queue for its whole timeout (600 s in the shipped dialplan) and be
# offered to several agents meanwhile: the token outlives any wait a caller sits through.
TOKEN_TTL = timedelta(hours=2)
MAC_BYTES = 16
_TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([1-9][0-9]{0,11})\.([0-9a-f]{32})")


class PopTokenError(Exception):
    """The token is missing, malformed or expired."""


class PopTokenMismatch(PopTokenError):
    """The token is not for this caller and customer (or not signed with our secret): the
    same words whichever it was, so a refusal confirms nothing about another business."""


@dataclass(frozen=True, slots=True)
class VouchedCaller:
    """What a valid token says: this business's caller-lookup saw this caller."""

    tenant_id: int
    uniqueid: str
    customer_id: int | None


_BLOCK = 64  # SHA-256's block size: HMAC pads its key to it
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


class Keyed:
    """HMAC-SHA256 under one key (RFC 2104), with the two padded key blocks hashed once:
    `hmac.new` hashes them again for every message, most of a token's cost on the path of
    every caller-lookup. The MAC is HMAC's, byte for byte."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = sha256(key).digest()
        padded = key.ljust(_BLOCK, b"\x00")
        self._inner = sha256(padded.translate(_INNER_PAD))
        self._outer = sha256(padded.translate(_OUTER_PAD))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def _mac(key: Keyed, tenant_id: int, uniqueid: str, customer_id: int | None, expires: int) -> str:
    customer = "" if customer_id is None else str(customer_id)
    message = f"{tenant_id}\x00{uniqueid}\x00{customer}\x00{expires}".encode()
    return key.hexdigest(message)[: MAC_BYTES * 2]


def _keyed(key: bytes | Keyed) -> Keyed:
    return key if isinstance(key, Keyed) else Keyed(key)


def sign(key: bytes | Keyed, caller: VouchedCaller, expires: int) -> str:
    """The token for `caller`, valid until `expires` (Unix seconds)."""
    mac = _mac(_keyed(key), caller.tenant_id, caller.uniqueid, caller.customer_id, expires)
    return f"{caller.tenant_id}.{expires}.{mac}"


def check(
    key: bytes | Keyed, token: str, uniqueid: str, customer_id: int | None, now: datetime
) -> int:
    """The business the token vouches for this caller and customer, or `PopTokenError`."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise PopTokenError("malformed screen-pop token" if token else "no screen-pop token")
    tenant_id, expires = int(match[1]), int(match[2])
    expected = _mac(_keyed(key), tenant_id, uniqueid, customer_id, expires)
    if not hmac.compare_digest(expected, match[3]):
        raise PopTokenMismatch("the screen-pop token is not for this caller and customer")
    if now.timestamp() >= expires:
        raise PopTokenError("the screen-pop token has expired")
    return tenant_id


class PopTokens:
    """Issues and checks tokens with the installation's secret."""

    def __init__(self, secret: InstallationSecret, ttl: timedelta = TOKEN_TTL) -> None:
        self._secret = secret
        self._ttl_s = int(ttl.total_seconds())  # a token's expiry is whole seconds
        self._derived: tuple[bytes, Keyed] | None = None  # (secret, key): one HMAC, not one a call

    def _key(self, secret: bytes) -> Keyed:
        """This purpose's key for `secret`, derived again only when the secret changes (the
        secret itself is cached by `InstallationSecret`: no Redis round trip per lookup)."""
        if self._derived is None or self._derived[0] != secret:
            self._derived = (secret, Keyed(derive(secret, PURPOSE)))
        return self._derived[1]

    async def issue(self, caller: VouchedCaller, now: datetime) -> str:
        key = self._key(await self._secret.get())
        return sign(key, caller, int(now.timestamp()) + self._ttl_s)

    async def verify(
        self, token: str, uniqueid: str, customer_id: int | None, now: datetime
    ) -> int:
        """The business vouched for, or `PopTokenError`. A MAC that does not verify is tried
        once more with the secret as stored now (another process may have made a new one)."""
        try:
            return check(self._key(await self._secret.get()), token, uniqueid, customer_id, now)
        except PopTokenMismatch:
            key = self._key(await self._secret.reload())
        return check(key, token, uniqueid, customer_id, now)
