"""The pure rules: which receiver URLs are allowed, and the retry schedule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from billing_bridge.webhooks_out.schedule import next_attempt, retry_delay
from billing_bridge.webhooks_out.sender import Sender
from billing_bridge.webhooks_out.urls import BadUrl, check_url

PRIVATE = [
    "http://127.0.0.1:8080/hooks", "https://127.0.0.1/", "https://localhost/",
    "https://api.localhost/", "https://10.1.2.3/", "https://192.168.0.7/", "https://172.16.0.1/",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/", "https://[fd00::1]/",
    "https://[::ffff:127.0.0.1]/", "https://0.0.0.0/",
]  # fmt: skip


PUBLIC = ["https://billing.example.com/hooks", "https://8.8.8.8/x", "https://bad.cafe/",
          "https://example.com:8443/a?b=c"]  # fmt: skip


@pytest.mark.parametrize("url", PUBLIC)
def test_an_https_url_of_a_public_host_is_a_receiver(url: str) -> None:
    assert check_url(url, allow_private=False) == url


@pytest.mark.parametrize("url", PRIVATE)
def test_a_private_or_loopback_receiver_is_refused_unless_the_deployment_allows_it(
    url: str,
) -> None:
    with pytest.raises(BadUrl, match="public host"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["http://example.com/", "http://8.8.8.8/"])
def test_plain_http_to_a_public_host_is_refused_even_where_private_ones_are_allowed(
    url: str,
) -> None:
    with pytest.raises(BadUrl, match="https"):
        check_url(url, allow_private=True)


@pytest.mark.parametrize("url", [
    "https://user:secret@example.com/", "https://2130706433/", "https://0x7f.1/",
    "https://127.1/", "https://example.com:70000/", "https://exa\tmple.com/", "file:///etc/x",
    "https://", "https://example.com/" + "a" * 2000,
])  # fmt: skip
def test_urls_that_cannot_be_a_safe_receiver_are_refused(url: str) -> None:
    with pytest.raises(BadUrl):
        check_url(url, allow_private=True)


def test_the_retry_wait_doubles_from_30_s_to_a_6_h_cap_within_the_jitter() -> None:
    rng = random.Random(1)
    for failures in range(1, 40):
        base = min(30 * 2 ** (failures - 1), 6 * 3600)
        wait = retry_delay(failures, rng).total_seconds()
        assert base * 0.8 <= wait <= base * 1.2


def test_a_failure_three_days_after_the_first_attempt_gives_up() -> None:
    first, rng = datetime(2026, 12, 1, tzinfo=UTC), random.Random(1)

    assert next_attempt(first, first + timedelta(days=3, seconds=-1), 20, rng) is not None
    assert next_attempt(first, first + timedelta(days=3), 21, rng) is None


async def test_a_name_that_resolves_to_a_private_address_is_not_posted_to() -> None:
    sender = Sender(timeout_s=2.0)  # as production: no private receivers
    try:
        outcome = await sender.post("http://localhost:9/hooks", "whsec_x", "evt_1", b"{}", 0)
    finally:
        await sender.close()

    assert outcome.status_code is None and not outcome.delivered
    assert "no public address" in (outcome.error or "")
