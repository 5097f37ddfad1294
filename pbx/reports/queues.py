"""The queue report: per queue and interval (15 minutes, hour, day or week of the
business's clock), read from `report_queue_intervals`, never from the call log itself.

Figures, for the calls that arrived in the interval (`docs/reports.md` defines each):
offered (reached the queue), answered, abandoned (short: within `short_abandon_seconds`,
long: the rest), overflowed (sent on by the queue's overflow rule: to another queue, to
voicemail or to a callback, each also counted apart), closed (out of hours, no queue),
callbacks, service level (answered within `service_level_seconds` over offered less short
abandons), average and 90th-percentile wait, average speed of answer, longest wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import BigInteger, cast, func, select

from pbx.db.database import Database
from pbx.db.models import QUEUE_INTERVAL_COUNTS, WAIT_BAND_NAMES, Queue, report_queue_intervals
from pbx.reports.periods import Interval, Period, percentile_bound, within
from pbx.reports.rollup import interval_key

_T = report_queue_intervals.c
_COUNTS = QUEUE_INTERVAL_COUNTS
NO_QUEUE = 0  # the calls that reached no queue (closed, voicemail, the IVR alone)


@dataclass(frozen=True)
class QueueQuery:
    period: Period
    interval: Interval
    queues: tuple[int, ...] = ()  # empty: every queue (and calls that reached none)
    dids: tuple[str, ...] = ()  # empty: every dialled number
    service_level_seconds: int = 20  # a wait band's edge (`periods.parse_band_edge`)
    short_abandon_seconds: int = 5


@dataclass(frozen=True)
class QueueFigures:
    interval_start: datetime | None  # in the business's zone; None: the whole period
    queue_id: int | None  # None: calls that reached no queue
    queue_name: str | None
    calls: int
    offered: int
    answered: int
    abandoned: int
    abandoned_short: int
    abandoned_long: int
    overflowed: int
    overflowed_queue: int
    overflowed_voicemail: int
    overflowed_callback: int
    closed: int
    callbacks: int
    voicemail: int
    failed: int
    answered_within: int
    service_level_pct: float | None
    average_wait_seconds: float | None
    p90_wait_seconds: int | None
    average_speed_of_answer_seconds: float | None
    longest_wait_seconds: int | None
    average_talk_seconds: float | None


_AT = {name: index for index, name in enumerate(_COUNTS)}
_BAND_SLICES = {kind: slice(_AT[f"{kind}_{WAIT_BAND_NAMES[0]}"],
                            _AT[f"{kind}_{WAIT_BAND_NAMES[-1]}"] + 1)
                for kind in ("waited", "answered", "abandoned")}  # fmt: skip


@dataclass
class _Sums:
    counts: list[int] = field(default_factory=lambda: [0] * len(_COUNTS))
    wait_max: int = 0

    def add(self, row: Sequence[int], wait_max: int) -> None:
        self.counts = [a + b for a, b in zip(self.counts, row, strict=True)]
        self.wait_max = max(self.wait_max, wait_max)


@dataclass(frozen=True)
class QueueReport:
    query: QueueQuery
    rows: list[QueueFigures]  # by interval, then queue
    totals: list[QueueFigures]  # per queue over the whole period


async def queue_report(database: Database, tenant_id: int, query: QueueQuery) -> QueueReport:
    lo, hi = query.period.buckets
    zone = query.period.zone
    key, to_start = interval_key(_T.bucket, query.interval, zone,
                                 database.engine.dialect.name)  # fmt: skip
    statement = (
        select(key.label("interval_key"), _T.queue_id,
               *(cast(func.sum(_T[n]), BigInteger).label(n) for n in _COUNTS),
               func.max(_T.wait_max).label("wait_max"))
        .where(_T.tenant_id == tenant_id, _T.bucket >= lo, _T.bucket < hi)
        .group_by(key, _T.queue_id)
    )  # fmt: skip
    if query.queues:
        statement = statement.where(_T.queue_id.in_(query.queues))
    if query.dids:
        statement = statement.where(_T.did.in_(query.dids))
    by_interval: dict[tuple[datetime, int], _Sums] = {}
    totals: dict[int, _Sums] = {}
    async with database.tenant_session(tenant_id) as session:
        result = await session.execute(statement)
        names = {q.id: q.name for q in await session.scalars(select(Queue))}
        for row in result:
            counts = row[2:-1]
            start = to_start(row[0])
            by_interval.setdefault((start, row[1]), _Sums()).add(counts, int(row[-1]))
            totals.setdefault(row[1], _Sums()).add(counts, int(row[-1]))
    rows = [_figures(query, start.astimezone(zone), queue, names, sums)
            for (start, queue), sums in sorted(by_interval.items(), key=_order)]  # fmt: skip
    whole = [_figures(query, None, queue, names, sums)
             for queue, sums in sorted(totals.items())]  # fmt: skip
    return QueueReport(query, rows, whole)


def _order(item: tuple[tuple[datetime, int], _Sums]) -> tuple[datetime, int]:
    return item[0]


def _bands(counts: list[int], kind: str) -> Sequence[int]:
    return counts[_BAND_SLICES[kind]]


def _figures(query: QueueQuery, start: datetime | None, queue: int, names: dict[int, str],
             sums: _Sums) -> QueueFigures:  # fmt: skip
    c = dict(zip(_COUNTS, sums.counts, strict=True))
    bands = sums.counts
    short = within(_bands(bands, "abandoned"), query.short_abandon_seconds)
    answered_within = within(_bands(bands, "answered"), query.service_level_seconds)
    return QueueFigures(
        interval_start=start, queue_id=None if queue == NO_QUEUE else queue,
        queue_name=names.get(queue), calls=c["calls"], offered=c["offered"],
        answered=c["answered"], abandoned=c["abandoned"], abandoned_short=short,
        abandoned_long=c["abandoned"] - short, overflowed=c["overflowed"],
        overflowed_queue=c["overflowed_queue"], overflowed_voicemail=c["overflowed_voicemail"],
        overflowed_callback=c["overflowed_callback"], closed=c["closed"],
        callbacks=c["callbacks"], voicemail=c["voicemail"], failed=c["failed"],
        answered_within=answered_within,
        service_level_pct=_pct(answered_within, c["offered"] - short),
        average_wait_seconds=_average(c["wait_sum"], c["waited"]),
        p90_wait_seconds=percentile_bound(_bands(bands, "waited"), 0.9, sums.wait_max),
        average_speed_of_answer_seconds=_average(c["answer_wait_sum"], c["answered"]),
        longest_wait_seconds=sums.wait_max if c["waited"] else None,
        average_talk_seconds=_average(c["talk_sum"], c["answered"]),
    )  # fmt: skip


def _average(total: int, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole > 0 else None
