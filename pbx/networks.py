"""Address ranges written in the settings (`service.trusted_proxies`), parsed once here.

The settings validate them and the HTTP layer matches peers against them; both read this
module, so the settings never reach into the HTTP layer to check a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_network

Network = IPv4Network | IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs or single addresses; raises ValueError naming the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an address or a CIDR (e.g. 10.0.0.0/8)") from None
    return tuple(networks)
