"""The official `stripe` SDK's client, set up once for every Ledgerline adapter on it (the
payment provider, the Stripe Billing sync): its key, API base (a test server's in tests),
network retries and timeout, on the SDK's aiohttp client (closed with `close_async`).

Card data: the SDK logs every request's form body ("Post details") at DEBUG on the "stripe"
logger and prints it to stderr when `stripe.log`/STRIPE_LOG is "debug". Opening a client
drops the SDK's DEBUG records with a filter on that logger (whatever its level is set to)
and refuses when console debug logging is on.
"""

from __future__ import annotations

import logging

import stripe
from stripe import _util as stripe_util

from billing_bridge.payments.port import ProviderError


def open_client(
    api_key: str,
    *,
    api_base: str | None = None,
    max_network_retries: int = 2,
    timeout: float = 30.0,
) -> tuple[stripe.StripeClient, stripe.AIOHTTPClient]:
    """A client and the HTTP client it sends through (the caller closes the latter)."""
    _silence_sdk_debug()
    http = stripe.AIOHTTPClient(timeout=timeout)
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=http,
    )
    return client, http


class _DropSdkDebug(logging.Filter):
    """The SDK's DEBUG records carry request and response bodies: card numbers, IBANs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _silence_sdk_debug() -> None:
    sdk_logger = logging.getLogger("stripe")
    if not any(isinstance(f, _DropSdkDebug) for f in sdk_logger.filters):
        sdk_logger.addFilter(_DropSdkDebug())
    if stripe_util._console_log_level() == "debug":
        raise ProviderError(
            "stripe.log / STRIPE_LOG is 'debug': the SDK would print request bodies (card "
            "numbers) to stderr; unset it"
        )
