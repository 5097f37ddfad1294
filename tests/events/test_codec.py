"""The desk events' codec: every kind reaches the desk exactly as it always has, over the bus
and on the socket, and anything malformed is refused with an error that names the field and
never repeats the value."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import pytest

from pbx.events.codec import (
    DeskCodecError,
    MalformedDeskEvent,
    UnknownKind,
    decode_payload,
    encode_payload,
)
from pbx.events.model import Audience, DeskEvent
from pbx.events.payloads import KINDS, MandateResult, PaymentStatusChanged
from pbx.events.wire import desk_frame, from_bus, to_bus
from tests.events.samples import CALL, SAMPLES

AUDIENCE = Audience(agents=(7, 8), queues=("1:support",), supervisors=True)


def test_every_kind_has_a_sample() -> None:
    assert SAMPLES.keys() == KINDS.keys()


@pytest.mark.parametrize("kind", SAMPLES)
def test_every_kind_is_sent_to_the_desk_as_the_object_it_has_always_been(kind: str) -> None:
    payload, expected = SAMPLES[kind]

    frame = desk_frame("1733490000000-0", DeskEvent.of(3, AUDIENCE, payload))

    assert json.loads(frame) == {"id": "1733490000000-0", "type": kind, "data": expected}
    assert list(json.loads(frame)["data"]) == list(expected)  # and in the same order


@pytest.mark.parametrize("kind", SAMPLES)
def test_every_kind_crosses_the_bus_unchanged(kind: str) -> None:
    event = DeskEvent.of(3, AUDIENCE, SAMPLES[kind][0])

    back = from_bus(to_bus(event))

    assert back == event and back.payload == event.payload


@pytest.mark.parametrize("kind", SAMPLES)
def test_every_kind_decodes_from_its_json_object_to_its_payload(kind: str) -> None:
    payload, data = SAMPLES[kind]

    assert decode_payload(kind, data) == payload


def test_an_untyped_publisher_gets_the_typed_event_its_object_describes() -> None:
    payload, data = SAMPLES["payment.status"]

    event = DeskEvent("payment.status", 3, AUDIENCE, dict(data))

    assert event.payload == payload and event.data == data


def test_a_status_enum_reaches_the_desk_as_its_plain_value() -> None:
    class Status(StrEnum):
        SUCCEEDED = "succeeded"

    payload = PaymentStatusChanged(payment_id=5, status=Status.SUCCEEDED, method="card",
                                   amount_minor=100, currency="EUR", account_id=3,
                                   balance_minor=900, call_record_id=None)  # fmt: skip

    sent = DeskEvent.of(3, AUDIENCE, payload).data["status"]

    assert type(sent) is str and sent == "succeeded"


def test_a_mandate_result_names_only_what_applies() -> None:
    abandoned = {"call_id": "c-1", "record_id": 41, "status": "abandoned", "account_id": 3}
    failed = {"call_id": "c-1", "record_id": 41, "status": "failed",
              "failure": "provider_error", "account_id": 3}  # fmt: skip

    for data in (abandoned, failed):
        payload = decode_payload("mandate.result", data)
        assert isinstance(payload, MandateResult) and encode_payload(payload) == data


def test_an_agi_only_pop_has_no_call_record_and_the_old_agi_shape_is_refused() -> None:
    pop = CALL | {"record_id": None, "panel": None}
    old = {"call_id": "1733490000.17", "source": "agi", "direction": "inbound",
           "caller_number": "+972502345678", "match": "none", "customer_id": None,
           "queue": None, "panel": None}  # fmt: skip

    assert encode_payload(decode_payload("call.offered", pop)) == pop
    with pytest.raises(MalformedDeskEvent):
        decode_payload("call.offered", old)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownKind):
        decode_payload("call.teleported", {})
    with pytest.raises(UnknownKind):
        DeskEvent("call.teleported", 3, AUDIENCE, {})


def test_a_payload_in_an_event_of_another_kind_is_refused() -> None:
    with pytest.raises(DeskCodecError):
        DeskEvent("call.ended", 3, AUDIENCE, SAMPLES["call.offered"][0])


WRONG_CALLS = {
    "a missing field": {k: v for k, v in CALL.items() if k != "record_id"},
    "an unknown field": CALL | {"card_number": "4242424242424242"},
    "a string for an int": CALL | {"record_id": "41"},
    "true for an int": CALL | {"record_id": True},
    "a float for an int": CALL | {"waited_seconds": 1.5},
    "null where a value is required": CALL | {"call_id": None},
    "a number for a string": CALL | {"caller_number": 972502345678},
    "a list for an object": CALL | {"panel": ["accounts"]},
    "a key that is not text": CALL | {7: "agent"},
}


@pytest.mark.parametrize("data", WRONG_CALLS.values(), ids=WRONG_CALLS.keys())
def test_a_malformed_payload_is_refused_naming_the_field_not_its_value(data: Any) -> None:
    with pytest.raises(MalformedDeskEvent) as refused:
        DeskEvent("call.connected" if "panel" not in data else "call.offered", 3, AUDIENCE, data)

    assert "4242" not in str(refused.value) and "9725" not in str(refused.value)


def test_a_typed_payload_built_with_a_wrong_type_is_refused_where_it_is_published() -> None:
    payload = SAMPLES["recording.stored"][0]
    wrong = type(payload)(recording_id="12", call_id=41, agent_id=None, duration_ms=None,
                          format="opus")  # type: ignore[arg-type]  # fmt: skip

    with pytest.raises(MalformedDeskEvent, match="recording_id"):
        DeskEvent.of(3, AUDIENCE, wrong)


GOOD_BUS: dict[str, Any] = json.loads(to_bus(DeskEvent.of(3, AUDIENCE, SAMPLES["agent.state"][0])))
WRONG_STATE = GOOD_BUS["data"] | {"agent_id": "7"}
MALFORMED_BUS = {
    "not JSON": "agent.state for 7",
    "not UTF-8": b"\xff\xfe",
    "deeply nested JSON": "[" * 50_000 + "]" * 50_000,
    "a list": "[]",
    "no data": json.dumps({k: v for k, v in GOOD_BUS.items() if k != "data"}),
    "an extra key": json.dumps(GOOD_BUS | {"secret": 1}),
    "a tenant as text": json.dumps(GOOD_BUS | {"tenant_id": "3"}),
    "a kind that is not text": json.dumps(GOOD_BUS | {"type": 7}),
    "an unknown kind": json.dumps(GOOD_BUS | {"type": "agent.teleported"}),
    "agents as text": json.dumps(GOOD_BUS | {"audience": {"agents": ["7"]}}),
    "queues as ids": json.dumps(GOOD_BUS | {"audience": {"queues": [1]}}),
    "supervisors as 1": json.dumps(GOOD_BUS | {"audience": {"supervisors": 1}}),
    "an audience that is not an object": json.dumps(GOOD_BUS | {"audience": [7]}),
    "data that is not an object": json.dumps(GOOD_BUS | {"data": "paused"}),
    "data of the wrong types": json.dumps(GOOD_BUS | {"data": WRONG_STATE}),
}  # fmt: skip


@pytest.mark.parametrize("raw", MALFORMED_BUS.values(), ids=MALFORMED_BUS.keys())
def test_a_malformed_bus_entry_is_a_codec_error(raw: str | bytes) -> None:
    with pytest.raises(DeskCodecError):
        from_bus(raw)
