"""Calls for the report tests, logged and ended through the call log as the call flow does
(so their ends add to the report intervals), and the queue figures recomputed from the raw
`calls` rows, independently of the intervals."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx.callflow.call_log import CallLog
from pbx.db.database import Database
from pbx.db.models import WAIT_BANDS, Call, Queue, User

DIDS = ("+37052000001", "+37052000002")


@dataclass
class Business:
    tenant_id: int
    queues: list[int]
    agents: list[int]


async def staff(database: Database, tenant_id: int, queues: int = 2, agents: int = 3) -> Business:
    async with database.tenant_session(tenant_id) as session, session.begin():
        queue_rows = [Queue(name=f"queue-{i}") for i in range(queues)]
        agent_rows = [User(username=f"agent{i}", display_name=f"Agentė {i}", role="agent")
                      for i in range(agents)]  # fmt: skip
        session.add_all([*queue_rows, *agent_rows])
        await session.flush()
        return Business(tenant_id, [q.id for q in queue_rows], [a.id for a in agent_rows])


async def log_calls(database: Database, business: Business, start: datetime, hours: int,
                    count: int, seed: int = 7) -> None:  # fmt: skip
    """`count` calls arriving over `hours` from `start`, of every outcome, waits across all
    bands (0 to 700 s), some with no queue (closed, voicemail), some outbound."""
    log, rng = CallLog(database), random.Random(seed)
    for n in range(count):
        arrived = start + timedelta(seconds=rng.randrange(hours * 3600))
        kind = rng.choices(["answered", "abandoned", "overflowed", "callback", "closed",
                            "voicemail", "outbound", "arriving"],
                           [40, 25, 5, 4, 6, 4, 8, 8])[0]  # fmt: skip
        did = rng.choice((*DIDS, None))
        record = await log.open(
            business.tenant_id, channel_id=f"ch-{seed}-{n}", caller_raw="+37061234567",
            caller_number="+37061234567", dialed_number=did, match="none", customer_id=None,
            priority=0, arrived_at=arrived,
            direction="outbound" if kind == "outbound" else "inbound",
        )  # fmt: skip
        wait = rng.choice([0, 1, 5, 6, 10, 19, 20, 21, 30, 44, 61, 200, 600, 601, 700,
                           rng.randrange(0, 400)])  # fmt: skip
        queued = arrived + timedelta(seconds=rng.randrange(0, 20))
        queue = rng.choice(business.queues)
        end: dict[str, Any] = {"ended_at": queued + timedelta(seconds=wait + 90)}
        if kind in ("answered", "abandoned", "overflowed", "callback"):
            await log.update(business.tenant_id, record, queued_at=queued, queue_id=queue)
            end["wait_seconds"] = wait
            end["outcome"] = "voicemail" if kind == "overflowed" else kind
        if kind == "answered":
            end |= {"answered_at": queued + timedelta(seconds=wait),
                    "agent_id": rng.choice(business.agents), "talk_seconds": rng.randrange(300)}
        elif kind == "outbound":
            if rng.random() < 0.7:
                end |= {"answered_at": arrived, "agent_id": rng.choice(business.agents),
                        "talk_seconds": rng.randrange(300), "outcome": "answered"}
            else:
                end["outcome"] = "failed"
        elif kind in ("closed", "voicemail"):
            end["outcome"] = kind
        elif kind == "arriving":
            end |= {"outcome": "abandoned", "wait_seconds": 0}
        end |= _overflow(kind, n, queue, business.queues)
        await log.update(business.tenant_id, record, **end)


def _overflow(kind: str, n: int, queue: int, queues: list[int]) -> dict[str, Any]:
    """Overflows by their queue's rule, chosen by the call's number (the random draws of
    the other figures stay as they were): every voicemail of a queued call, every second
    callback, every seventh answered or abandoned call (from the business's other queue)."""
    if kind == "overflowed":
        return {"overflow": "voicemail"}
    if kind == "callback" and n % 2 == 0:
        return {"overflow": "callback"}
    others = [q for q in queues if q != queue]
    if kind in ("answered", "abandoned") and n % 7 == 0 and others:
        return {"overflow": "queue", "overflow_from_queue_id": others[0]}
    return {}


async def raw_calls(database: Database, tenant_id: int) -> list[Call]:
    async with database.tenant_session(tenant_id) as session:
        return list(await session.scalars(select(Call).where(Call.ended_at.is_not(None))))


def _band_edge(wait: int) -> int | None:
    return next((edge for edge in WAIT_BANDS if wait <= edge), None)


def expected_queue_rows(calls: list[Call], zone: ZoneInfo, sl: int,
                        short: int) -> dict[tuple[str, int | None], dict[str, Any]]:  # fmt: skip
    """By (local hour start as ISO text with its offset, queue id): each figure from the
    raw rows. Whole-hour zones only (the hour is the arrival less its local minutes)."""
    grouped: dict[tuple[str, int | None], list[Call]] = defaultdict(list)
    left: dict[tuple[str, int | None], list[Call]] = defaultdict(list)  # overflowed out
    for call in calls:
        if call.direction != "inbound":
            continue
        local = call.arrived_at.astimezone(zone)
        hour = (call.arrived_at - timedelta(minutes=local.minute, seconds=local.second,
                                            microseconds=local.microsecond))  # fmt: skip
        grouped[(hour.astimezone(zone).isoformat(), call.queue_id)].append(call)
        if call.overflow_from_queue_id is not None:
            left[(hour.astimezone(zone).isoformat(), call.overflow_from_queue_id)].append(call)
    return {key: _figures(grouped.get(key, []), sl, short, len(left.get(key, [])))
            for key in grouped.keys() | left.keys()}  # fmt: skip


def _figures(rows: list[Call], sl: int, short: int, sent_on: int = 0) -> dict[str, Any]:
    """`sent_on`: calls that left this queue for another (offered and overflowed here)."""
    queued = [c for c in rows if c.queued_at is not None]
    answered = [c for c in queued if c.outcome == "answered"]
    abandoned = [c for c in queued if c.outcome == "abandoned"]
    waits = sorted(c.wait_seconds for c in queued if c.wait_seconds is not None)
    short_count = sum(1 for c in abandoned if (c.wait_seconds or 0) <= short)
    within = sum(1 for c in answered if (c.wait_seconds or 0) <= sl)
    to_voicemail = sum(1 for c in queued if c.outcome in ("overflowed", "voicemail"))
    to_callback = sum(1 for c in queued if c.overflow == "callback")
    offered = len(queued) + sent_on
    p90 = None
    if waits:
        exact = waits[math.ceil(0.9 * len(waits)) - 1]
        edge = _band_edge(exact)
        p90 = waits[-1] if edge is None else min(edge, waits[-1])
        assert exact <= p90  # a bound, never below the true percentile

    def average(values: list[int]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {
        "calls": len(rows), "offered": offered, "answered": len(answered),
        "abandoned": len(abandoned), "abandoned_short": short_count,
        "abandoned_long": len(abandoned) - short_count,
        "overflowed": to_voicemail + to_callback + sent_on, "overflowed_queue": sent_on,
        "overflowed_voicemail": to_voicemail, "overflowed_callback": to_callback,
        "closed": sum(1 for c in rows if c.outcome == "closed"),
        "callbacks": sum(1 for c in rows if c.outcome == "callback"),
        "voicemail": sum(1 for c in rows if c.outcome == "voicemail" and c.queued_at is None),
        "failed": sum(1 for c in rows if c.outcome == "failed"),
        "answered_within": within,
        "service_level_pct": (round(100 * within / (offered - short_count), 1)
                              if offered - short_count > 0 else None),
        "average_wait_seconds": average(waits),
        "p90_wait_seconds": p90,
        "average_speed_of_answer_seconds": average([c.wait_seconds or 0 for c in answered]),
        "longest_wait_seconds": waits[-1] if waits else None,
        "average_talk_seconds": average([c.talk_seconds or 0 for c in answered]),
    }  # fmt: skip


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
