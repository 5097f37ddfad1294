"""The wall board's rules (pure): the thresholds a queue's tile is coloured by, the tile and
the total built from what was read, and the board's events refused by the codec when they
are not what the board sends."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, datetime

import pytest

from pbx.desk.results import QueueStat
from pbx.events.codec import MalformedDeskEvent, decode_payload
from pbx.reports.board import (
    BoardSettings,
    Thresholds,
    board_of,
    collected_by_queue,
    status,
    thresholds_for,
)
from pbx.reports.money import MoneyFigure
from pbx.reports.queues import QueueFigures
from tests.events.samples import BOARD_TILE

AT = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
LIMITS = Thresholds(wait_amber_seconds=20, wait_red_seconds=60)


def _today(queue_id: int, offered: int, answered: int, abandoned: int,
           level: float | None) -> QueueFigures:  # fmt: skip
    """A queue's figures for today: those the board reads, the rest left empty."""
    empty = dict.fromkeys(field.name for field in fields(QueueFigures))
    return QueueFigures(**empty | {"queue_id": queue_id, "offered": offered,
                                   "answered": answered, "abandoned": abandoned,
                                   "service_level_pct": level})  # fmt: skip


def _money(queue_id: int | None, currency: str, minor: int, kind: str = "collected") -> MoneyFigure:
    return MoneyFigure(kind, "card_in_call" if kind == "collected" else None, 7, queue_id,
                       currency, 1, minor)  # fmt: skip


def test_a_queue_without_a_longest_wait_is_red_at_three_times_the_service_level_threshold() -> None:
    assert thresholds_for(BoardSettings()) == Thresholds(20, 60)


def test_a_queue_s_own_longest_wait_is_where_its_tile_turns_red() -> None:
    assert thresholds_for(BoardSettings(120)) == Thresholds(20, 120)
    assert thresholds_for(BoardSettings(15)) == Thresholds(20, 60)  # below amber: the default


def test_the_thresholds_an_admin_sets_win_over_the_derived_ones() -> None:
    assert thresholds_for(BoardSettings(120, 30, 45, 90, 70)) == Thresholds(30, 45, 90, 70)
    assert thresholds_for(BoardSettings(120, wait_amber_seconds=50)) == Thresholds(50, 120)
    assert thresholds_for(BoardSettings(None, wait_amber_seconds=50)) == Thresholds(50, 150)


def test_a_derived_threshold_never_crosses_the_one_an_admin_set() -> None:
    assert thresholds_for(BoardSettings(wait_red_seconds=15)) == Thresholds(15, 15)
    assert thresholds_for(BoardSettings(service_level_red_pct=90)) == Thresholds(20, 60, 90, 90)
    assert thresholds_for(BoardSettings(service_level_amber_pct=50)) == Thresholds(20, 60, 50, 50)


@pytest.mark.parametrize(("wait", "level", "expected"), [
    (0, None, "ok"), (30, 90, "ok"), (31, None, "amber"), (0, 89, "amber"), (45, 70, "amber"),
    (46, None, "red"), (0, 69, "red"),
])  # fmt: skip
def test_a_tile_turns_amber_and_red_at_the_thresholds_an_admin_set(
    wait: int, level: int | None, expected: str
) -> None:
    assert status(thresholds_for(BoardSettings(None, 30, 45, 90, 70)), wait, level) == expected


@pytest.mark.parametrize(("wait", "level", "expected"), [
    (0, None, "ok"), (20, 80, "ok"), (21, None, "amber"), (0, 79, "amber"),
    (61, 95, "red"), (5, 59, "red"), (30, 50, "red"),
])  # fmt: skip
def test_a_tile_is_as_bad_as_the_worse_of_its_wait_and_its_service_level(
    wait: int, level: int | None, expected: str
) -> None:
    assert status(LIMITS, wait, level) == expected


def test_collected_adds_up_per_queue_and_currency_and_leaves_credits_out() -> None:
    figures = [_money(1, "ILS", 100), _money(1, "ILS", 250), _money(1, "EUR", 10),
               _money(None, "ILS", 5), _money(1, "ILS", 999, kind="credited")]  # fmt: skip

    assert collected_by_queue(figures) == {1: {"ILS": 350, "EUR": 10}, None: {"ILS": 5}}


def test_the_board_has_a_tile_per_live_queue_by_name_and_the_business_s_total() -> None:
    live = [QueueStat(2, "sales", 3, 75, {"on_call": 2, "paused": 1}),
            QueueStat(1, "collections", 0, 0, {"available": 1})]  # fmt: skip
    today = {1: _today(1, 10, 9, 1, 90.0), 2: _today(2, 4, 2, 2, 49.9)}
    collected = {1: {"ILS": 350}, None: {"ILS": 5, "EUR": 10}}

    own = BoardSettings(service_level_amber_pct=95, service_level_red_pct=85)
    board = board_of(AT, live, today, collected, {1: own, 2: BoardSettings(90)})

    first, second = board.tiles
    assert (first.name, first.status, first.service_level_pct) == ("collections", "amber", 90)
    assert (first.service_level_amber_pct, first.service_level_red_pct) == (95, 85)
    assert first.collected == {"ILS": 350}
    assert (second.name, second.waiting, second.longest_wait_seconds) == ("sales", 3, 75)
    assert (second.service_level_pct, second.wait_red_seconds, second.status) == (49, 90, "red")
    assert second.abandoned == 2 and second.collected == {}
    assert board.total.collected == {"ILS": 355, "EUR": 10}
    assert first.at == board.total.at == AT.isoformat()


def test_a_queue_with_no_call_ended_today_has_no_service_level_yet() -> None:
    board = board_of(AT, [QueueStat(5, "new", 1, 3, {})], {}, {}, {})

    (tile,) = board.tiles
    assert (tile.offered, tile.service_level_pct, tile.status) == (0, None, "ok")


@pytest.mark.parametrize(("field", "value"), [
    ("waiting", "2"), ("waiting", True), ("service_level_pct", 74.5), ("agents", [1]),
    ("status", None),
])  # fmt: skip
def test_a_board_tile_of_the_wrong_shape_is_refused_naming_the_field(
    field: str, value: object
) -> None:
    with pytest.raises(MalformedDeskEvent, match=re.escape(f"board.tile.{field}:")):
        decode_payload("board.tile", BOARD_TILE | {field: value})


def test_a_board_tile_without_a_field_is_refused() -> None:
    tile = dict(BOARD_TILE)
    del tile["at"]
    with pytest.raises(MalformedDeskEvent, match=re.escape("board.tile.at: missing")):
        decode_payload("board.tile", tile)
