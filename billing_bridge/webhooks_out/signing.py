"""The signature receivers check, in Stripe's scheme: `Ledgerline-Signature: t=<unix>,v1=<hex>`
where hex is HMAC-SHA256 of `f"{t}.{body}"` under the subscription's secret. The timestamp is
signed with the body, so a captured request replayed later fails the receiver's tolerance."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Ledgerline-Signature"
EVENT_ID_HEADER = "Ledgerline-Event-Id"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A subscription's signing secret: `whsec_` and 32 random bytes, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp` (Unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
