"""The billing system's read of its business's events, in sequence order after a cursor,
and its acknowledgements of the ones it has applied.

A cursor is opaque to the reader: the base64 (URL alphabet) of `v1:<sequence>`. It names a
place in one business's sequence only, so a cursor from another business's feed reads this
business's events after that number and tells nothing about the other. Malformed cursors
are refused (`BadCursor`), never guessed at.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.audit import Actor, Target, record
from pbx.db.models import BillingEvent

MAX_PAGE = 1000
MAX_ACKNOWLEDGED = 1000
_CURSOR_TEXT = re.compile(r"v1:(0|[1-9][0-9]{0,17})")
_EVENT_ID = re.compile(r"evt_[0-9a-f]{32}")


class BadCursor(ValueError):
    """Not a cursor this feed gave."""


@dataclass(frozen=True)
class Page:
    events: list[BillingEvent]
    next_cursor: str  # where the next read starts: after the last event given
    has_more: bool


@dataclass(frozen=True)
class Acknowledged:
    acknowledged: list[str]  # now
    already: list[str]  # before this request
    unknown: list[str]  # no event of this business has the id


def cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def parse_cursor(text: str) -> int:
    """The sequence a cursor names; `BadCursor` for anything this feed did not give."""
    if len(text) > 40 or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise BadCursor("not a cursor this feed gave")
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor this feed gave") from None
    match = _CURSOR_TEXT.fullmatch(decoded)
    if match is None or cursor(int(match.group(1))) != text:
        raise BadCursor("not a cursor this feed gave")
    return int(match.group(1))


async def events_after(
    session: AsyncSession, after: int, limit: int, types: Sequence[str] = ()
) -> Page:
    """The session's business's events with a sequence above `after`, oldest first."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE}")
    query = select(BillingEvent).where(BillingEvent.seq > after)
    if types:
        query = query.where(BillingEvent.type.in_(list(types)))
    rows = list(await session.scalars(query.order_by(BillingEvent.seq).limit(limit + 1)))
    events, has_more = rows[:limit], len(rows) > limit
    return Page(events, cursor(events[-1].seq if events else after), has_more)


async def event_by_id(session: AsyncSession, public_id: str) -> BillingEvent | None:
    if not _EVENT_ID.fullmatch(public_id):
        return None
    return await session.scalar(select(BillingEvent).where(BillingEvent.public_id == public_id))


async def acknowledge(
    session: AsyncSession,
    tenant_id: int,
    event_ids: Sequence[str],
    *,
    actor: Actor,
    now: datetime,
) -> Acknowledged:
    """Mark the business's events applied by its billing system, once each (a repeat is
    reported as acknowledged already); ids of no event of this business are reported, not
    refused. One audit entry per request that acknowledged anything, with its counts."""
    if len(event_ids) > MAX_ACKNOWLEDGED:
        raise ValueError(f"at most {MAX_ACKNOWLEDGED} event ids at once")
    wanted = list(dict.fromkeys(event_ids))
    valid = [event_id for event_id in wanted if _EVENT_ID.fullmatch(event_id)]
    found: dict[str, datetime | None] = {}
    if valid:
        rows = await session.execute(
            select(BillingEvent.public_id, BillingEvent.acknowledged_at)
            .where(BillingEvent.public_id.in_(valid)).with_for_update()
        )  # fmt: skip
        found = {public_id: acknowledged_at for public_id, acknowledged_at in rows}
    fresh = [event_id for event_id in wanted if event_id in found and found[event_id] is None]
    if fresh:
        await session.execute(
            update(BillingEvent)
            .where(BillingEvent.public_id.in_(fresh), BillingEvent.acknowledged_at.is_(None))
            .values(acknowledged_at=now)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        record(
            session, tenant_id=tenant_id, actor=actor, action="events.acknowledge",
            target=Target("billing_events"), at=now,
            details={"acknowledged": len(fresh), "already": len(found) - len(fresh),
                     "unknown": len(wanted) - len(found)},
        )  # fmt: skip
    return Acknowledged(
        fresh,
        [event_id for event_id in wanted if found.get(event_id) is not None],
        [event_id for event_id in wanted if event_id not in found],
    )
