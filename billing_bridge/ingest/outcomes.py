"""What taking in one record came to: an outcome, or a refusal of that record alone (pure)."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # the same version again (or the same immutable record again)
    STALE = "stale"  # an older version than the one held: nothing changed


class IngestRefused(Exception):
    """One record refused for what the database holds (its parent unknown, another
    currency, an immutable record sent again with other content): the other records of a
    batch still apply. `code` is what the API answers."""

    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


def unknown_parent(kind: str, field_name: str, ref: str) -> IngestRefused:
    return IngestRefused(f"unknown_{kind}", field_name, f"no {kind} with reference {ref!r}")


class Result(NamedTuple):
    """One record's result. `customer_ids` are the customers whose panel and caller lookup
    it changed (none when nothing changed); `numbers` are phone numbers it took away from
    that customer, which the caller-lookup cache must forget as well as the current ones.
    A named tuple: a batch makes one per record, and a frozen dataclass took three times
    as long to make."""

    ref: str
    outcome: Outcome | None = None
    refused: IngestRefused | None = None
    customer_ids: tuple[int, ...] = ()
    numbers: frozenset[str] = frozenset()  # immutable: one empty set shared by all

    @property
    def changed(self) -> bool:
        return self.outcome in (Outcome.CREATED, Outcome.UPDATED)


def by_version(stored: int | None, given: int) -> Outcome | None:
    """How a record of version `given` meets the stored one: None to write it."""
    if stored is None or stored < given:
        return None
    return Outcome.UNCHANGED if stored == given else Outcome.STALE
