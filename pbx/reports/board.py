"""The wall board (`/board`, `docs/reports.md`): each queue's live figures (callers waiting,
the longest wait, agents by state, from the desk's `QueueStats`) beside today's (since the
business's midnight: offered, answered, abandoned, the service level, from the report
intervals; collected, from the ledger), and the thresholds that turn a tile amber or red.

The colour is a pure rule (`status`). An admin may set a queue's thresholds (the queue's
`board_*` settings, checked by the admin API: amber wait <= red wait, amber level >= red
level); each one unset is derived (`thresholds_for`): a wait is amber past the service
level's threshold (20 s, the report's default) and red past the queue's `max_wait_seconds`
(when it has one above the amber) or else three times the amber; the service level is
amber below 80 % and red below 60 % (the issue's "80 % in 20 s"). A derived bound never
crosses the one the admin set: with only a red wait of 15 s, amber is 15 s too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from billing_bridge.business_days import zone_of
from pbx.db.database import Database
from pbx.db.models import Queue
from pbx.desk.results import QueueStat, QueueStatList
from pbx.events.payloads import BoardTile, BoardTotal
from pbx.reports.money import MoneyFigure, MoneyQuery, money_report
from pbx.reports.periods import Interval, period
from pbx.reports.queues import QueueFigures, QueueQuery, queue_report

SERVICE_LEVEL_SECONDS = 20
SERVICE_LEVEL_AMBER_PCT = 80
SERVICE_LEVEL_RED_PCT = 60
RED_WAIT_TIMES = 3  # without a queue's own max_wait_seconds: red at three times the threshold


@dataclass(frozen=True, slots=True)
class Thresholds:
    wait_amber_seconds: int
    wait_red_seconds: int
    service_level_amber_pct: int = SERVICE_LEVEL_AMBER_PCT
    service_level_red_pct: int = SERVICE_LEVEL_RED_PCT


@dataclass(frozen=True, slots=True)
class Board:
    tiles: tuple[BoardTile, ...]  # by queue name
    total: BoardTotal


@dataclass(frozen=True, slots=True)
class BoardSettings:
    """What a queue says about its tile's colours (None: not set)."""

    max_wait_seconds: int | None = None
    wait_amber_seconds: int | None = None
    wait_red_seconds: int | None = None
    service_level_amber_pct: int | None = None
    service_level_red_pct: int | None = None


def thresholds_for(queue: BoardSettings) -> Thresholds:
    """A queue's thresholds: those it sets, the others derived (the module's docstring)."""
    amber = queue.wait_amber_seconds
    if amber is None:
        amber = min(SERVICE_LEVEL_SECONDS, queue.wait_red_seconds or SERVICE_LEVEL_SECONDS)
    red = queue.wait_red_seconds
    if red is None:
        max_wait = queue.max_wait_seconds
        red = max_wait if max_wait is not None and max_wait > amber else amber * RED_WAIT_TIMES
    level_amber, level_red = queue.service_level_amber_pct, queue.service_level_red_pct
    if level_amber is None:
        level_amber = max(SERVICE_LEVEL_AMBER_PCT, level_red or 0)
    if level_red is None:
        level_red = min(SERVICE_LEVEL_RED_PCT, level_amber)
    return Thresholds(amber, red, level_amber, level_red)


def status(limits: Thresholds, longest_wait_seconds: int, service_level_pct: int | None) -> str:
    """ok, amber or red: the worse of the longest wait's and the service level's (no call
    offered today yet: no service level, so only the wait counts)."""
    if longest_wait_seconds > limits.wait_red_seconds:
        return "red"
    if service_level_pct is not None and service_level_pct < limits.service_level_red_pct:
        return "red"
    if longest_wait_seconds > limits.wait_amber_seconds:
        return "amber"
    if service_level_pct is not None and service_level_pct < limits.service_level_amber_pct:
        return "amber"
    return "ok"


def collected_by_queue(figures: Iterable[MoneyFigure]) -> dict[int | None, dict[str, int]]:
    """Collected amounts per queue (None: not in a queue's call) and currency."""
    found: dict[int | None, dict[str, int]] = {}
    for figure in figures:
        if figure.kind == "collected":
            mine = found.setdefault(figure.queue_id, {})
            mine[figure.currency] = mine.get(figure.currency, 0) + figure.amount_minor
    return found


def board_of(
    at: datetime,
    live: Iterable[QueueStat],
    today: Mapping[int, QueueFigures],
    collected: Mapping[int | None, Mapping[str, int]],
    settings: Mapping[int, BoardSettings],
) -> Board:
    """The board from what was read (pure)."""
    tiles = []
    for queue in sorted(live, key=lambda q: q.name):
        figures = today.get(queue.queue_id)
        level = figures.service_level_pct if figures is not None else None
        pct = None if level is None else int(level)  # whole percent, never rounded up
        limits = thresholds_for(settings.get(queue.queue_id, BoardSettings()))
        tiles.append(BoardTile(
            queue_id=queue.queue_id, name=queue.name, at=at.isoformat(),
            waiting=queue.waiting, longest_wait_seconds=queue.longest_wait_seconds,
            agents=dict(queue.agents),
            offered=figures.offered if figures else 0,
            answered=figures.answered if figures else 0,
            abandoned=figures.abandoned if figures else 0,
            service_level_pct=pct, collected=dict(collected.get(queue.queue_id, {})),
            wait_amber_seconds=limits.wait_amber_seconds,
            wait_red_seconds=limits.wait_red_seconds,
            service_level_amber_pct=limits.service_level_amber_pct,
            service_level_red_pct=limits.service_level_red_pct,
            status=status(limits, queue.longest_wait_seconds, pct),
        ))  # fmt: skip
    total: dict[str, int] = {}
    for amounts in collected.values():
        for currency, minor in amounts.items():
            total[currency] = total.get(currency, 0) + minor
    return Board(tuple(tiles), BoardTotal(at=at.isoformat(),
                                          service_level_seconds=SERVICE_LEVEL_SECONDS,
                                          collected=total))  # fmt: skip


async def read_board(
    database: Database, tenant_id: int, at: datetime, live: QueueStatList
) -> Board:
    """The business's board now: its live queues as the desk gave them (`QueueStats`) and
    today's figures from the report intervals and the ledger."""
    zone = await zone_of(database, tenant_id)
    day = at.astimezone(zone).date()
    today = period(zone, day, day, Interval.DAY)
    queues = await queue_report(database, tenant_id, QueueQuery(
        today, Interval.DAY, service_level_seconds=SERVICE_LEVEL_SECONDS))  # fmt: skip
    money = await money_report(database, tenant_id, MoneyQuery(today))
    async with database.tenant_session(tenant_id) as session:
        rows = await session.execute(select(
            Queue.id, Queue.max_wait_seconds, Queue.board_wait_amber_seconds,
            Queue.board_wait_red_seconds, Queue.board_service_level_amber_pct,
            Queue.board_service_level_red_pct,
        ))  # fmt: skip
        settings = {queue_id: BoardSettings(*rest) for queue_id, *rest in rows}
    by_queue = {f.queue_id: f for f in queues.totals if f.queue_id is not None}
    return board_of(at, live.items, by_queue, collected_by_queue(money.figures), settings)
