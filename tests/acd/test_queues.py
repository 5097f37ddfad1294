import json
from typing import Any

import pytest

from billing_bridge.identification.model import (
    PRIORITY_COLLECTIONS,
    PRIORITY_NORMAL,
    PRIORITY_VIP,
)
from pbx.acd.queues import (
    RECENT_ABANDONED,
    RECENT_HANDLE_TIMES,
    AbandonedCall,
    EntryKind,
    OverflowKind,
    Queue,
    QueueConfig,
    Strategy,
    WaitingCall,
)
from tests.acd.support import T0, at


def waiting(call_id: str, priority: int, arrived: float, seq: int) -> WaitingCall:
    return WaitingCall(
        call_id, priority, at(arrived), at(arrived), seq, caller_number="+97231234567"
    )


def entry(queue: Queue, call_id: str) -> WaitingCall:
    found = queue.get(call_id)
    assert found is not None, call_id
    return found


def order(queue: Queue) -> list[str]:
    return [entry.call_id for entry in queue.waiting]


def test_a_vip_overtakes_normal_callers_but_callers_of_equal_priority_stay_first_come() -> None:
    queue = Queue(QueueConfig("sales"))
    queue.add(waiting("normal-1", PRIORITY_NORMAL, 0, 1))
    queue.add(waiting("normal-2", PRIORITY_NORMAL, 5, 2))
    queue.add(waiting("vip-1", PRIORITY_VIP, 10, 3))
    queue.add(waiting("owing-1", PRIORITY_COLLECTIONS, 12, 4))
    queue.add(waiting("vip-2", PRIORITY_VIP, 20, 5))

    assert order(queue) == ["vip-1", "vip-2", "owing-1", "normal-1", "normal-2"]
    assert queue.position("normal-1") == 4


def test_calls_arriving_in_the_same_instant_keep_the_order_the_acd_saw_them() -> None:
    queue = Queue(QueueConfig("sales"))
    for seq, call_id in [(3, "third"), (1, "first"), (2, "second")]:
        queue.add(waiting(call_id, PRIORITY_NORMAL, 0, seq))

    assert order(queue) == ["first", "second", "third"]


def test_a_callback_request_holds_its_place_for_the_callers_behind_it() -> None:
    queue = Queue(QueueConfig("sales"))
    queue.add(waiting("asked-for-callback", PRIORITY_NORMAL, 0, 1))
    queue.add(waiting("on-the-line", PRIORITY_NORMAL, 5, 2))
    entry(queue, "asked-for-callback").kind = EntryKind.CALLBACK

    assert queue.position("asked-for-callback") == 1
    assert queue.position("on-the-line") == 2


def test_estimated_wait_is_position_times_mean_handle_time_over_staffed_agents() -> None:
    queue = Queue(QueueConfig("sales", default_handle_s=120))
    # Before any call is handled the configured default stands in: 3 * 120 / 2.
    assert queue.estimated_wait_s(position=3, staffed=2) == 180

    for seconds in (100, 200, 301):
        queue.record_handle_time(seconds)
    # Mean 200.33 s: 1 * 200.33 / 4 rounds up to 51.
    assert queue.estimated_wait_s(position=1, staffed=4) == 51


def test_there_is_no_estimated_wait_when_nobody_is_staffed() -> None:
    assert Queue(QueueConfig("sales")).estimated_wait_s(position=1, staffed=0) is None


def test_only_recent_handle_times_feed_the_estimate() -> None:
    queue = Queue(QueueConfig("sales"))
    queue.record_handle_time(10_000)
    for _ in range(RECENT_HANDLE_TIMES):
        queue.record_handle_time(60)

    assert queue.average_handle_s() == 60


def test_an_abandoned_call_is_recorded_with_its_wait_and_position() -> None:
    queue = Queue(QueueConfig("sales"))
    queue.add(waiting("first", PRIORITY_NORMAL, 0, 1))
    queue.add(waiting("second", PRIORITY_NORMAL, 10, 2))

    record = queue.record_abandoned(entry(queue, "second"), at(55))

    assert record == AbandonedCall("second", waited_s=45, position=2, at=at(55))
    assert queue.abandoned == [record]


def test_the_queue_keeps_only_a_short_tail_of_abandoned_calls() -> None:
    queue = Queue(QueueConfig("sales"))
    for n in range(RECENT_ABANDONED + 5):
        queue.add(waiting(f"c{n}", PRIORITY_NORMAL, n, n))
        queue.record_abandoned(entry(queue, f"c{n}"), at(n + 1))
        queue.remove(f"c{n}")

    assert len(queue.abandoned) == RECENT_ABANDONED
    assert queue.abandoned[-1].call_id == f"c{RECENT_ABANDONED + 4}"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
        ({"retry_s": -1}, "retry_s"),
        ({"max_wait_s": 60}, "needs an overflow target"),
        ({"max_wait_s": 0, "overflow_kind": "voicemail"}, "max_wait_s must be positive"),
        ({"max_wait_s": 60, "overflow_kind": "queue"}, "another queue"),
        ({"max_wait_s": 60, "overflow_kind": "queue", "overflow_target": "sales"}, "another"),
        ({"announce_position_every_s": 0}, "announce_position_every_s"),
        ({"strategy": "roundrobin"}, "roundrobin"),
    ],
)
def test_a_queue_config_that_cannot_work_is_refused(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        QueueConfig("sales", **fields)


def test_a_queue_with_callers_round_trips_through_json() -> None:
    config = QueueConfig(
        "collections",
        strategy=Strategy.RRMEMORY,
        max_wait_s=300,
        overflow_kind=OverflowKind.CALLBACK,
        overflow_target="collections-callbacks",
        announce_position_every_s=30,
        required_skills={"collections": 1},
    )
    queue = Queue(config, rr_last=(2, "dana"))
    queue.add(waiting("a", PRIORITY_VIP, 0, 1))
    queue.add(waiting("b", PRIORITY_NORMAL, 3, 2))
    entry(queue, "a").ringing = ["dana"]
    queue.record_handle_time(240)
    queue.record_abandoned(entry(queue, "b"), at(20))

    restored = Queue.from_dict(json.loads(json.dumps(queue.to_dict())))

    assert restored == queue
    assert restored.waiting[0].arrived_at.tzinfo is not None
    assert restored.waiting[0].arrived_at == T0
