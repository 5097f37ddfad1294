"""Which calls are recorded: the route's policy, overridden by the queue's when it has one."""

from __future__ import annotations

import pytest

from recordings.policy import (
    DEFAULT_ANNOUNCEMENT,
    announcement,
    effective_policy,
    may_record_on_demand,
    should_record_from_start,
)


@pytest.mark.parametrize(
    ("route", "queue", "expected"),
    [
        ("all", None, "all"),
        ("none", None, "none"),
        ("on_demand", None, "on_demand"),
        ("all", "none", "none"),
        ("none", "all", "all"),
        ("all", "on_demand", "on_demand"),
        ("on_demand", "all", "all"),
    ],
)
def test_a_queues_policy_wins_over_the_routes_and_none_follows_the_route(
    route: str, queue: str | None, expected: str
) -> None:
    assert effective_policy(route, queue) == expected


def test_only_an_all_policy_records_from_the_start() -> None:
    assert should_record_from_start("all", None)
    assert should_record_from_start("none", "all")
    assert not should_record_from_start("all", "on_demand")
    assert not should_record_from_start("all", "none")


def test_only_an_on_demand_policy_lets_an_agent_start_recording() -> None:
    assert may_record_on_demand("on_demand", None)
    assert may_record_on_demand("all", "on_demand")
    assert not may_record_on_demand("on_demand", "all")
    assert not may_record_on_demand("on_demand", "none")


@pytest.mark.parametrize(("route", "queue"), [("sometimes", None), ("all", "ALL"), ("", None)])
def test_an_unknown_policy_is_refused(route: str, queue: str | None) -> None:
    with pytest.raises(ValueError):
        effective_policy(route, queue)


def test_a_route_without_its_own_announcement_plays_the_default_prompt() -> None:
    assert announcement(None) == f"sound:{DEFAULT_ANNOUNCEMENT}"
    assert announcement("acme-recorded") == "sound:acme-recorded"
