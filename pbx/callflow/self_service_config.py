"""A route's self-service menu as the call flow reads it (pure).

Stored as JSON on the route (`inbound_routes.self_service`):
`{"balance": true, "card": true, "mandate": false, "identify": "pin", "attempts": 2,
"identify_attempts": 3, "promise": false}`. The menu's keys are fixed, so a caller's habit
works on every line: 1 the balance, 2 pay by card, 3 a direct debit, 4 a promise to pay, 0 or
9 an agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Identify(StrEnum):
    """How a caller the line could not tell from their number proves who they are."""

    NONE = "none"  # not offered: unknown callers go straight to the queue
    PIN = "pin"
    DATE_OF_BIRTH = "date_of_birth"


@dataclass(frozen=True, slots=True)
class SelfServiceMenu:
    balance: bool = True
    card: bool = False
    mandate: bool = False
    identify: Identify = Identify.NONE
    attempts: int = 2  # a choice not made (or not valid) is asked again, then an agent
    identify_attempts: int = 3  # tries at the account number and PIN/date of birth, per call
    promise: bool = False  # a promise to pay, to an identified caller with something overdue

    @property
    def offers_anything(self) -> bool:
        return self.balance or self.card or self.mandate or self.promise

    def to_json(self) -> dict[str, Any]:
        return {"balance": self.balance, "card": self.card, "mandate": self.mandate,
                "identify": self.identify.value, "attempts": self.attempts,
                "identify_attempts": self.identify_attempts,
                "promise": self.promise}  # fmt: skip


def menu_from_json(stored: Mapping[str, Any] | None) -> SelfServiceMenu | None:
    """The stored menu; None when there is none or it offers nothing. Stored values were
    checked on the way in (`pbx.http.schemas.SelfServiceIn`); anything else is refused."""
    if not stored:
        return None
    menu = SelfServiceMenu(
        balance=bool(stored.get("balance", True)), card=bool(stored.get("card", False)),
        mandate=bool(stored.get("mandate", False)),
        identify=Identify(stored.get("identify", "none")),
        attempts=int(stored.get("attempts", 2)),
        identify_attempts=int(stored.get("identify_attempts", 3)),
        promise=bool(stored.get("promise", False)),
    )  # fmt: skip
    return menu if menu.offers_anything else None
