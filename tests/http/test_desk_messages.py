"""What a desk and its socket say to each other, read and written without a socket."""

from __future__ import annotations

import json

import pytest

from pbx.http.desk_messages import (
    NOT_JSON,
    TOO_LARGE,
    UNKNOWN_FIELD,
    UNKNOWN_QUEUE,
    UNKNOWN_TYPE,
    Hello,
    Subscribe,
    Subscribed,
    encode_reply,
    parse_message,
)


def test_a_subscribe_names_each_queue_once_in_the_order_given() -> None:
    assert parse_message('{"type": "subscribe", "queue_ids": [3, 1, 3]}') == Subscribe((3, 1))


@pytest.mark.parametrize(("text", "error"), [
    ('{"type": "ack", "id": "1-0"}', UNKNOWN_TYPE),
    ('{"type": "ping"}', UNKNOWN_TYPE),
    ('{"queue_ids": []}', UNKNOWN_TYPE),
    ('{"type": "subscribe", "queue_ids": [], "as": "admin"}', UNKNOWN_FIELD),
    ("[" * 50_000 + "]" * 50_000, TOO_LARGE),
    ("[" * 2_000 + "]" * 2_000, NOT_JSON),  # deep, under the size cap
    ('"subscribe"', NOT_JSON),
    ("{", NOT_JSON),
])  # fmt: skip
def test_anything_but_a_subscribe_is_a_typed_error(text: str, error: object) -> None:
    assert parse_message(text) == error


def test_replies_are_the_frames_desks_have_always_received() -> None:
    assert json.loads(encode_reply(Hello(None))) == {"type": "hello", "last_event_id": None}
    assert json.loads(encode_reply(Hello("5-0"))) == {"type": "hello", "last_event_id": "5-0"}
    assert json.loads(encode_reply(Subscribed((1, 2)))) == {"type": "subscribed",
                                                            "queue_ids": [1, 2]}  # fmt: skip
    assert json.loads(encode_reply(UNKNOWN_QUEUE)) == {
        "type": "error", "code": "unknown_queue", "message": "no such queue; nothing changed"
    }
