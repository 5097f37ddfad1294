"""Reading a provider's signed event: every field checked for its type and size (pure).

A signature proves who sent a body, not that its fields are what the adapter expects: an API
version change, a bug at the provider or a test tool can send a number where an id belongs,
an object where a string belongs, a 10,000-character id or a timestamp of a thousand digits.
Each adapter reads its events through these helpers, so a malformed one is refused as
`WebhookMalformed` naming the field (the HTTP layer answers 400; the value is never echoed
or logged), and what is kept is bounded:

- ids and references (event ids, payment and mandate references): at most `MAX_ID`
  characters of printable ASCII, else refused;
- the event type and resource: at most 64 and 32 characters, else refused;
- free text (failure codes and messages, descriptions): control and bidi characters
  dropped, card-like numbers masked (`pbx.free_text`), cut to `MAX_TEXT`;
- at most `MAX_DETAILS` detail fields, each a short key and a text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from billing_bridge.payments.port import WebhookMalformed
from pbx.free_text import cap, clean_text
from pbx.instants import NotAnInstant, parse_instant

MAX_ID = 128  # the columns that keep them (webhook_events.event_id, payments.provider_ref)
MAX_TYPE = 64
MAX_RESOURCE = 32
MAX_TEXT = 200
MAX_DETAILS = 20
MAX_KEY = 40
# Unix times up to the year 9999: a longer number is not a time a provider sends.
_LAST_UNIX_TIME = 253_402_300_799


def obj(container: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """A nested object; absent or null reads as empty."""
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebhookMalformed(f"{where}{key}")
    return value


def ident(container: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    """An id or reference: a short string of printable ASCII."""
    value = container.get(key)
    if value is None or value == "":
        if required:
            raise WebhookMalformed(f"{where}{key}")
        return ""
    if (
        not isinstance(value, str)
        or len(value) > MAX_ID
        or not value.isascii()
        or not value.isprintable()
    ):
        raise WebhookMalformed(f"{where}{key}")
    return value


def name(container: Mapping[str, Any], key: str, where: str, limit: int = MAX_TYPE) -> str:
    """A provider's vocabulary word (an event type, a status, an action): a string of
    printable ASCII that fits (it is logged: no line breaks or escapes)."""
    value = container.get(key, "")
    if value is None:
        return ""
    if (
        not isinstance(value, str)
        or len(value) > limit
        or not value.isascii()
        or not value.isprintable()
    ):
        raise WebhookMalformed(f"{where}{key}")
    return value


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """Free text a provider sends, as it may be kept and shown: cleaned, masked, capped.
    Anything that is not text (a number is written out; objects and lists are dropped)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value) if abs(value) < 10**18 else None
    if not isinstance(value, str):
        return None
    return cap(clean_text(value[: limit * 2]), limit) or None


def details(values: Mapping[str, Any]) -> dict[str, str]:
    """Free-text detail fields (failure codes, reasons): bounded in number, keys and values."""
    kept: dict[str, str] = {}
    for key, value in values.items():
        if len(kept) >= MAX_DETAILS:
            break
        if not isinstance(key, str) or not key or len(key) > MAX_KEY or not key.isascii():
            continue
        cleaned = text(value)
        if cleaned is not None:
            kept[key] = cleaned
    return kept


def unix_time(container: Mapping[str, Any], key: str, where: str) -> datetime:
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LAST_UNIX_TIME:
        raise WebhookMalformed(f"{where}{key}")
    return datetime.fromtimestamp(value, UTC)


def iso_time(container: Mapping[str, Any], key: str, where: str) -> datetime:
    value = container.get(key)
    try:
        return parse_instant(value, max_length=40)
    except NotAnInstant:
        raise WebhookMalformed(f"{where}{key}") from None


def amount(container: Mapping[str, Any], key: str, where: str) -> int | None:
    """A whole number of minor units, or None when absent."""
    value = container.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise WebhookMalformed(f"{where}{key}")
    return value
