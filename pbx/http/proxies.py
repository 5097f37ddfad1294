"""Who the client is behind our own proxies: `X-Forwarded-For` and `X-Forwarded-Proto` are
believed only when the peer that sent them is a configured proxy (`service.trusted_proxies`);
anyone else could write any address into them and pick the address the sign-in limits see."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from pbx.networks import Network, parse_networks

# The settings parse the ranges (pbx.networks); the HTTP layer matches peers against them.
__all__ = ["Network", "client_address", "forwarded_https", "is_trusted", "parse_networks"]


def _address(value: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(value.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(peer: str | None, trusted: Sequence[Network]) -> bool:
    address = _address(peer) if peer else None
    return address is not None and any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The right-most address that is not one of our proxies, walking `X-Forwarded-For` from
    the peer leftwards (each proxy appends the address it saw); the peer itself when it is
    not a trusted proxy. `forwarded_for` is every X-Forwarded-For header, in order."""
    current = peer or "-"
    if not is_trusted(peer, trusted):
        return current
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # a proxy of ours wrote nonsense: go no further than that proxy
            return current
        current = str(address)
        if not any(address in network for network in trusted):
            return current
    return current


def forwarded_https(
    peer: str | None, forwarded_proto: Sequence[str], trusted: Sequence[Network]
) -> bool:
    """A trusted proxy says the client reached it over https. Any `https` in the header
    counts: a false one can only make the cookie stricter (Secure), never weaker."""
    if not is_trusted(peer, trusted):
        return False
    return any(
        part.strip().lower() == "https" for header in forwarded_proto for part in header.split(",")
    )
