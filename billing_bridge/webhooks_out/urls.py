"""Which receiver URLs a subscription may name: pure, no I/O (no DNS lookup).

https only, to a public host. A receiver on this machine or a private network (loopback,
RFC 1918, link-local such as a cloud's metadata address, unique-local IPv6, `localhost`)
is refused unless the deployment allows it (`webhooks.allow_private_http`, for the demo and
tests), and then over http as well. Credentials in the URL are refused: they would show in
every list of subscriptions.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000  # webhook_subscriptions.url
# Digits, dots and hex that are not a dotted quad (`2130706433`, `0x7f.1`, `127.1`): the
# resolver reads them as an address (loopback here), so they are not names to trust.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)


class BadUrl(ValueError):
    """The URL cannot be a receiver; the message says why (for the caller's 422)."""


def check_url(url: str, *, allow_private: bool) -> str:
    """`url` as kept, or `BadUrl`."""
    if len(url) > MAX_URL_LENGTH:
        raise BadUrl(f"at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise BadUrl("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        raise BadUrl("is not a valid URL") from None
    if parts.scheme not in ("https", "http"):
        raise BadUrl("must be an https:// URL")
    if not host:
        raise BadUrl("has no host")
    labels = host.rstrip(".").split(".")
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels) and not _is_address(host):
        raise BadUrl("has a host that is neither a name nor a dotted address")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("must not carry a user name or password")
    private = _is_private(host)
    if private and not allow_private:
        raise BadUrl("must name a public host (this deployment refuses private addresses)")
    if parts.scheme == "http" and not (private and allow_private):
        raise BadUrl("must be an https:// URL")
    return url


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_private(host: str) -> bool:
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name: what it resolves to is the receiver's own business
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global
