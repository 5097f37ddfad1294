"""What a caller lookup tells the dialplan: shared by the FastAGI handler and the pyst2 script."""

from __future__ import annotations

from collections.abc import Sequence

from billing_bridge.identification import variables
from billing_bridge.identification.model import Identification

ASTERISK_UNKNOWN = "unknown"  # Asterisk's word for a caller ID or DNID it was not given


def dialed_number(args: Sequence[str], dnid: str | None, extension: str | None) -> str:
    """The DID: an explicit AGI argument (`${EXTEN}`) wins, then the DNID, then the extension."""
    for value in (*args[:1], dnid, extension):
        if value and value.strip() and value.strip().lower() != ASTERISK_UNKNOWN:
            return value.strip()
    return ""


def lookup_variables(result: Identification) -> list[tuple[str, str]]:
    """The LL_* channel variables in the order they are set: the caller's identity, encoded
    as the call flow decodes it from StasisStart (`billing_bridge.identification.variables`)."""
    return variables.encode(result.identity())
