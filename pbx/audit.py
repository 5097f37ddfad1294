"""The one way an audit entry is written: who did what to money or configuration, and when.

Every audit entry in the house goes through `record` (handlers, services, jobs alike), so
the rules hold in one place:
- the entry joins the caller's session, so it commits (or rolls back) with the change itself;
- free text (the actor's label, every string in `details`, however nested) is screened with
  `pbx.free_text.mask_card_numbers`: a card number typed into a note or a reason
  never reaches the audit log;
- card data is refused outright: a `details` key naming a card number, its security code,
  its expiry or a magnetic track raises `CardDataInAudit` (the last four digits are what the
  log may keep, as `card_last4`);
- the actor's label is capped at the column's width (a label is not worth failing a change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from pbx.db.models import AuditEntry
from pbx.free_text import cap, mask_card_numbers

_LABEL_WIDTH = 100  # audit_log.actor_label
# Keys that would carry card data (normalised: lower case, no "_", "-" or spaces).
_CARD_KEYS = frozenset(
    {"pan", "cardnumber", "cardno", "cvv", "cvv2", "cvc", "cvc2", "securitycode",
     "expiry", "expiration", "expirydate", "expmonth", "expyear",
     "track", "track1", "track2", "trackdata", "magstripe"}
)  # fmt: skip


class Actor(Protocol):
    """Who acted: a signed-in user (`pbx.auth.roles.Principal` is one) or a named process."""

    @property
    def user_id(self) -> int | None: ...
    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class By:
    """An actor by name: a process acting on its own (a job, a provider's webhook, the
    retention sweep), or a user known only by id and label."""

    label: str
    user_id: int | None = None


SYSTEM = By("system")


@dataclass(frozen=True)
class Target:
    """What was acted on: a kind ("payment", "queue", "tenant", ...) and its id, if any."""

    kind: str
    id: int | str | None = None


class CardDataInAudit(ValueError):
    """Card data offered to the audit log: a programming error, never stored."""


def record(
    session: AsyncSession,
    *,
    tenant_id: int,
    actor: Actor,
    action: str,
    target: Target,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one audit entry to the session's transaction and return it (unflushed)."""
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor_id=actor.user_id,
        actor_label=cap(mask_card_numbers(actor.label), _LABEL_WIDTH),
        action=action,
        target_type=target.kind,
        target_id=str(target.id) if target.id is not None else None,
        details=_screened(details or {}),
    )
    if at is not None:
        entry.created_at = at
    session.add(entry)
    return entry


def _screened(details: Mapping[str, Any]) -> dict[str, Any]:
    for key in details:
        if _normalised(key) in _CARD_KEYS:
            raise CardDataInAudit(f"audit details may not hold card data ({key!r})")
    return {key: _screened_value(value) for key, value in details.items()}


def _screened_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, Mapping):
        return _screened(value)
    if isinstance(value, list | tuple):
        return [_screened_value(item) for item in value]
    return value


def _normalised(key: str) -> str:
    return "".join(ch for ch in str(key).lower() if ch not in "_- ")
