"""The desk's bus codec: every command, result and error travels and comes back equal;
what does not decode is refused with a `WireError`, and a standby's request to the owner
is answered with a `bad_request` error, never a traceback."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from billing_bridge.call_credits import CreditView
from billing_bridge.mandate_links import MandateLinkSent
from pbx.bus.memory import MemoryBus
from pbx.desk import commands as c
from pbx.desk import errors, results, wire
from pbx.desk.handlers import HANDLERS
from pbx.desk.ports import CardOrder
from pbx.desk.remote import DeskServer, ForwardingDesk, topic
from pbx.desk.typed import FieldError
from tests.desk.fakes import DANA, NOW, a_call, avi, dana, desk_with

SAMPLES: dict[type[c.Command], c.Command] = {
    c.AgentStates: c.AgentStates(),
    c.AgentStateOf: c.AgentStateOf(7),
    c.SetAgentState: c.SetAgentState(7, "paused", "lunch"),
    c.ClickToCall: c.ClickToCall(7, "+972501112222", customer_id=3),
    c.QueueStats: c.QueueStats(),
    c.Hold: c.Hold("c-1"),
    c.Resume: c.Resume("c-1"),
    c.HangUp: c.HangUp("c-1"),
    c.Transfer: c.Transfer("c-1", "attended", agent_id=8),
    c.CompleteTransfer: c.CompleteTransfer("c-1"),
    c.CancelTransfer: c.CancelTransfer("c-1"),
    c.PauseRecording: c.PauseRecording("c-1", "card details"),
    c.ResumeRecording: c.ResumeRecording("c-1"),
    c.StartRecording: c.StartRecording("c-1"),
    c.StopRecording: c.StopRecording("c-1"),
    c.TakeCardPayment: c.TakeCardPayment("c-1", 70, 1_000),
    c.SendPayLink: c.SendPayLink("c-1", 70, None, "email", "d@example.com"),
    c.VerifyCaller: c.VerifyCaller("c-1", ("date_of_birth", "last_payment")),
    c.CallWithAccount: c.CallWithAccount(70),
    c.GrantCreditInCall: c.GrantCreditInCall("c-1", 70, 500, "goodwill", "ILS", "sorry"),
    c.SetUpMandateByPhone: c.SetUpMandateByPhone("c-1", 70, "IL"),
    c.SendMandateLink: c.SendMandateLink("c-1", 70, "masav", "sms", None),
    c.AttachCustomer: c.AttachCustomer("c-1", 9, "search"),
}
RESULTS: list[results.Result] = [
    None,
    results.AgentStateList((
        results.AgentStateView(7, "paused", "lunch", NOW, None),
        results.AgentStateView(8, "logged_out"),
    )),
    results.QueueStatList((results.QueueStat(1, "support", 2, 90, {"available": 1}),)),
    results.CallStarted("out-1"),
    results.CardPaymentStarted(1_000, "ILS"),
    results.PayLinkSent(5, "https://pay.example/l", "sent", 1_000, "ILS", "sms", "+9725•••5678"),
    results.CallerVerified("c-1", "agent_questions", ("date_of_birth",)),
    results.CallOfAccount(None),
    CreditView(1, 70, 500, "ILS", "goodwill", "granted", None, 100, 11, None, NOW, None),
    results.MandateStarted("masav"),
    MandateLinkSent(3, "bacs", "pending", None, "failed", "d•••@example.com"),
    results.CustomerAttached("c-1", 9, None),
]


def through_json(message: dict[str, Any]) -> Any:
    return json.loads(json.dumps(message))


def test_there_is_a_sample_and_a_handler_of_every_command() -> None:
    assert set(SAMPLES) == set(c.COMMANDS) == set(HANDLERS)


@pytest.mark.parametrize("command", list(SAMPLES.values()), ids=lambda cmd: type(cmd).__name__)
def test_every_command_round_trips(command: c.Command) -> None:
    assert wire.decode_request(through_json(wire.encode_request(command, dana))) == (command, dana)


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_every_result_round_trips(result: results.Result) -> None:
    assert wire.decode_reply(through_json(wire.encode_result(result))) == result


@pytest.mark.parametrize("kind", errors.KINDS, ids=lambda kind: kind.__name__)
def test_every_error_comes_back_as_raised(kind: type[errors.DeskError]) -> None:
    raised = kind("no", code="balance_below_zero")

    with pytest.raises(kind) as back:
        wire.decode_reply(through_json(wire.encode_error(raised)))

    assert (back.value.code, back.value.message) == ("balance_below_zero", "no")


def test_an_unknown_kind_is_refused() -> None:
    message = wire.encode_request(c.Hold("c-1"), dana) | {"kind": "DropTables"}

    with pytest.raises(wire.WireError, match="unknown desk operation 'DropTables'"):
        wire.decode_request(message)


@pytest.mark.parametrize("fields", [
    {"call_id": "c-1", "account_id": "70"},  # a string is not an id
    {"call_id": "c-1", "account_id": True},  # nor is a bool
    {"call_id": "c-1", "account_id": 70.0},  # nor a float
    {"call_id": "c-1"},  # missing
    {"call_id": "c-1", "account_id": 70, "pan": "4242"},  # unknown
    {"call_id": None, "account_id": 70},
    {"call_id": "c-1", "account_id": 70, "invoice_id": "701"},  # the invoice's id alike
    {"call_id": "c-1", "account_id": 70, "invoice_id": False},
])  # fmt: skip
def test_a_field_of_the_wrong_type_is_refused(fields: dict[str, Any]) -> None:
    message = {"kind": "TakeCardPayment", "fields": fields, "actor": asdict(dana)}

    with pytest.raises(wire.WireError):
        wire.decode_request(message)


def test_a_value_outside_a_literal_is_refused() -> None:
    message = wire.encode_request(c.Transfer("c-1", number="+1"), dana)
    message["fields"]["mode"] = "sideways"

    with pytest.raises(wire.WireError, match="mode"):
        wire.decode_request(message)


def test_an_actor_that_is_not_one_is_refused() -> None:
    message = wire.encode_request(c.Hold("c-1"), dana) | {"actor": {"user_id": 1}}

    with pytest.raises(wire.WireError, match=r"Actor\.tenant_id: missing"):
        wire.decode_request(message)


def test_a_command_cannot_be_built_with_a_wrong_type() -> None:
    with pytest.raises(FieldError):
        c.GrantCreditInCall("c-1", 70, "500", "goodwill")  # type: ignore[arg-type]


def test_a_reply_that_is_neither_a_result_nor_an_error_is_refused() -> None:
    with pytest.raises(wire.WireError):
        wire.decode_reply({"result": {"kind": "CallStarted", "fields": {"call_id": 5}}})
    with pytest.raises(wire.WireError):
        wire.decode_reply(["not", "a", "reply"])


class FakeRedis:
    """The reply lists: RPUSH in a transaction, BLPOP that finds what was pushed."""

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}

    def pipeline(self, transaction: bool = True) -> FakeRedis:
        return self

    async def __aenter__(self) -> FakeRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def rpush(self, key: str, value: str) -> FakeRedis:
        self.lists.setdefault(key, []).append(value)
        return self

    def expire(self, key: str, seconds: int) -> FakeRedis:
        return self

    async def execute(self) -> None:
        return None

    async def blpop(self, keys: list[str], timeout: float) -> tuple[str, str] | None:  # noqa: ASYNC109
        for key in keys:
            if self.lists.get(key):
                return key, self.lists[key].pop(0)
        return None


def standby_and_owner() -> tuple[ForwardingDesk, Any, FakeRedis]:
    owner, owner_calls, _ = desk_with(a_call("c-1"))
    standby, standby_calls, _ = desk_with()
    standby_calls.ready = False
    bus, redis = MemoryBus(), FakeRedis()
    bus.subscribe(topic("n1"), DeskServer(owner, redis).handle)  # type: ignore[arg-type]
    return ForwardingDesk(standby, bus, redis, "n1"), owner_calls, redis  # type: ignore[arg-type]


async def test_a_standby_forwards_a_command_and_the_owner_does_it() -> None:
    forwarding, owner_calls, _ = standby_and_owner()

    await forwarding.run(c.Hold("c-1"), dana)

    assert owner_calls.done == [("hold", "c-1")]


def test_a_card_payment_naming_an_invoice_round_trips_with_it() -> None:
    command = c.TakeCardPayment("c-1", 70, 10_000, invoice_id=701)

    decoded, _ = wire.decode_request(json.loads(json.dumps(wire.encode_request(command, dana))))

    assert decoded == command and decoded.invoice_id == 701  # type: ignore[attr-defined]


async def test_a_standby_forwards_the_invoice_a_card_payment_names() -> None:
    forwarding, owner_calls, _ = standby_and_owner()

    await forwarding.run(c.TakeCardPayment("c-1", 70, invoice_id=701), dana)

    assert owner_calls.done == [("card_capture", CardOrder(70, 30_000, "ILS", DANA, "agent:dana",
                                                           701))]  # fmt: skip


async def test_the_owners_refusal_travels_back_as_its_kind() -> None:
    forwarding, owner_calls, _ = standby_and_owner()

    with pytest.raises(errors.Forbidden):
        await forwarding.run(c.Hold("c-1"), avi)
    assert owner_calls.done == []


async def test_a_malformed_request_is_answered_with_bad_request() -> None:
    owner, owner_calls, _ = desk_with(a_call("c-1"))
    redis = FakeRedis()
    reply_to = "ll:desk:reply:x"
    message = {"kind": "Hold", "fields": {"call_id": 5}, "actor": asdict(dana),
               "reply_to": reply_to}  # fmt: skip

    await DeskServer(owner, redis).handle(message)  # type: ignore[arg-type]

    reply = json.loads(redis.lists[reply_to][0])
    assert reply["error"]["kind"] == "BadRequest" and reply["error"]["code"] == "bad_request"
    assert owner_calls.done == []
