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


class EncodedVariables:
    """`lookup_variables`, encoded once per result: a cache hands the same `Identification`
    out for every call from a regular caller, and its variables cannot change. Keyed by the
    result's identity, each entry holding the result itself, so an id cannot be reused while
    it is here; bounded by dropping everything (a cache's results come back at once)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._max = max_entries
        self._encoded: dict[int, tuple[Identification, list[tuple[str, str]]]] = {}

    def __len__(self) -> int:
        return len(self._encoded)

    def __call__(self, result: Identification) -> list[tuple[str, str]]:
        entry = self._encoded.get(id(result))
        if entry is not None and entry[0] is result:
            return entry[1]
        variables = lookup_variables(result)
        if len(self._encoded) >= self._max:
            self._encoded.clear()
        self._encoded[id(result)] = (result, variables)
        return variables
