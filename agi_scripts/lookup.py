"""What a caller lookup tells the dialplan: shared by the FastAGI handler and the pyst2 script."""

from __future__ import annotations

import re
from collections.abc import Sequence

from billing_bridge.identification.model import Identification, Match

ASTERISK_UNKNOWN = "unknown"  # Asterisk's word for a caller ID or DNID it was not given
# A line break inside an AGI argument would end the command early: names lose them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def dialed_number(args: Sequence[str], dnid: str | None, extension: str | None) -> str:
    """The DID: an explicit AGI argument (`${EXTEN}`) wins, then the DNID, then the extension."""
    for value in (*args[:1], dnid, extension):
        if value and value.strip() and value.strip().lower() != ASTERISK_UNKNOWN:
            return value.strip()
    return ""


def lookup_variables(result: Identification) -> list[tuple[str, str]]:
    """Channel variables in the order they are set. Every one is set on every call, empty when
    it does not apply, so nothing from an earlier lookup on the same channel survives."""
    customer = result.customer if result.match is Match.UNIQUE else None
    return [
        ("LL_MATCH", result.match.value),
        ("LL_CUSTOMER_ID", str(customer.customer_id) if customer else ""),
        ("LL_CUSTOMER_NAME", _CONTROL.sub(" ", customer.name) if customer else ""),
        ("LL_ACCOUNT_STATUS", customer.account_status if customer else ""),
        ("LL_BALANCE_MINOR", str(customer.balance_minor) if customer else ""),
        ("LL_CURRENCY", customer.headline_currency if customer else ""),
        ("LL_PRIORITY", str(result.priority)),
        ("LL_CANDIDATES", str(len(result.candidates))),
        ("LL_REASON", result.reason.value if result.reason else ""),
    ]
