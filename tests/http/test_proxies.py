"""The client's address and scheme are taken from X-Forwarded-* only through our proxies."""

from __future__ import annotations

import re

import pytest

from pbx.http.proxies import client_address, forwarded_https, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "192.0.2.1"])


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_claims() -> None:
    assert client_address("203.0.113.5", ["198.51.100.7"], PROXIES) == "203.0.113.5"
    assert client_address("203.0.113.5", ["198.51.100.7"], ()) == "203.0.113.5"


def test_through_our_proxies_the_client_is_the_right_most_address_that_is_not_ours() -> None:
    # The client wrote a fake first hop; our edge proxy appended what it saw, then an inner one.
    header = ["1.2.3.4, 198.51.100.7", "10.1.2.3"]
    assert client_address("10.0.0.9", header, PROXIES) == "198.51.100.7"


def test_when_every_hop_is_ours_the_left_most_is_the_client() -> None:
    assert client_address("10.0.0.9", ["10.5.5.5, 192.0.2.1"], PROXIES) == "10.5.5.5"


def test_a_trusted_proxy_without_the_header_is_the_client_itself() -> None:
    assert client_address("10.0.0.9", [], PROXIES) == "10.0.0.9"


def test_nonsense_written_by_a_trusted_hop_stops_the_walk_at_that_hop() -> None:
    assert client_address("10.0.0.9", ["not-an-address, 10.7.7.7"], PROXIES) == "10.7.7.7"


def test_ipv6_and_ipv4_mapped_peers_are_matched_against_the_networks() -> None:
    proxies = parse_networks(["2001:db8::/32", "127.0.0.1"])
    assert client_address("2001:db8::5", ["[2001:db8:ffff::1]", "198.51.100.7"], proxies) == (
        "198.51.100.7"
    )
    assert client_address("::ffff:127.0.0.1", ["198.51.100.8"], proxies) == "198.51.100.8"


def test_https_is_believed_only_from_a_trusted_proxy() -> None:
    assert forwarded_https("10.0.0.9", ["https"], PROXIES)
    assert forwarded_https("10.0.0.9", ["http, https"], PROXIES)
    assert not forwarded_https("10.0.0.9", ["http"], PROXIES)
    assert not forwarded_https("203.0.113.5", ["https"], PROXIES)


def test_a_malformed_network_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_networks(["10.0.0.0/33"])
