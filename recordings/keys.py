"""Where a recording lives in the object store: `TENANT/YYYY/MM/DD/CALL_ID.EXT`.

Pure. The date is the UTC day the call started, so a key never depends on a server's time
zone and retention can walk a tenant's days in order. Every part is checked so a key can
never hold `..`, an empty segment, a slash inside a segment or a leading slash, whatever a
tenant slug or a call id contains.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Database ids, or Asterisk's uniqueid ("1795352775.12"): dots only between characters.
_CALL_ID = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_EXTENSION = re.compile(r"[a-z0-9]{1,10}")


def object_key(tenant: str, started_at: datetime, call_id: int | str, extension: str) -> str:
    """The key of one call's recording; `extension` with or without its dot ("opus", ".opus")."""
    if not _TENANT.fullmatch(tenant):
        raise ValueError(f"tenant slug {tenant!r} cannot name a folder of recordings")
    if started_at.tzinfo is None or started_at.utcoffset() is None:
        raise ValueError("started_at must be timezone-aware")
    if isinstance(call_id, bool) or (isinstance(call_id, int) and call_id < 0):
        raise ValueError(f"call id {call_id!r} is not a call id")
    call = str(call_id)
    if len(call) > 128 or not _CALL_ID.fullmatch(call):
        raise ValueError(f"call id {call!r} cannot name a recording")
    suffix = extension.removeprefix(".")
    if not _EXTENSION.fullmatch(suffix):
        raise ValueError(f"extension {extension!r} is not a file extension")
    day = started_at.astimezone(UTC)
    return f"{tenant}/{day:%Y/%m/%d}/{call}.{suffix}"
