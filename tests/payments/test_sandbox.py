from __future__ import annotations

import dataclasses
import hashlib
import hmac
import inspect
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from billing_bridge.payments.bank_accounts import (
    validate_iban,
    validate_israeli_account,
    validate_uk_account,
    validate_us_account,
)
from billing_bridge.payments.port import (
    BankAccount,
    CardDetails,
    ChargeResult,
    MandateStatus,
    PaymentProvider,
    PaymentStatus,
    ProviderError,
    ProviderUnavailable,
    WebhookEvent,
    WebhookMalformed,
    WebhookRejected,
)
from billing_bridge.payments.sandbox import SIGNATURE_HEADER, SandboxProvider

SECRET = "whsec_sandbox_test"
START = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> SandboxProvider:
    return SandboxProvider(webhook_secret=SECRET, clock=clock)


def card(number: str, cvc: str | None = None, month: int = 12, year: int = 2030) -> CardDetails:
    amex = number.startswith(("34", "37"))
    return CardDetails(number, month, year, cvc or ("1234" if amex else "123"))


async def charge(
    sandbox: SandboxProvider, details: CardDetails, **overrides: object
) -> ChargeResult:
    arguments: dict[str, object] = {
        "amount_minor": 12_50,
        "currency": "EUR",
        "idempotency_key": "call-1:payment-1",
        "description": "Invoice 1001",
        "customer_ref": "cust_1",
    } | overrides
    return await sandbox.charge_card(details, **arguments)  # type: ignore[arg-type]


def test_the_sandbox_has_every_method_of_the_port_with_the_same_parameters() -> None:
    for name, member in inspect.getmembers(PaymentProvider, inspect.isfunction):
        if name.startswith("_"):
            continue
        port = inspect.signature(member).parameters
        ours = inspect.signature(getattr(SandboxProvider, name)).parameters
        assert [(p.name, p.kind) for p in ours.values()] == [
            (p.name, p.kind) for p in port.values()
        ], name
        assert inspect.iscoroutinefunction(getattr(SandboxProvider, name)) == (
            inspect.iscoroutinefunction(member)
        ), name
    assert SandboxProvider.name == "sandbox"


def test_the_sandbox_refuses_to_start_without_a_webhook_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        SandboxProvider(webhook_secret="")


# --- test cards -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("378282246310005", "amex"),
        ("4111111111111111", "visa"),  # any other valid card
        ("3566002020360505", "jcb"),
    ],
)
async def test_good_test_cards_succeed_with_brand_and_last4(
    sandbox: SandboxProvider, number: str, brand: str
) -> None:
    result = await charge(sandbox, card(number))
    assert result.status is PaymentStatus.SUCCEEDED
    assert (result.card_brand, result.card_last4) == (brand, number[-4:])
    assert result.failure_code is None
    assert result.provider_ref.startswith("sbx_pay_")


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ],
)
async def test_decline_test_cards_fail_with_stripes_codes(
    sandbox: SandboxProvider, number: str, code: str
) -> None:
    result = await charge(sandbox, card(number))
    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, code)
    assert result.failure_message
    assert sandbox.status_of(result.provider_ref) == "failed"


async def test_the_processing_error_card_raises_unavailable_every_time_and_records_nothing(
    sandbox: SandboxProvider,
) -> None:
    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="retry"):
            await charge(sandbox, card("4000000000000119"))
    assert sandbox.references() == []


@pytest.mark.parametrize(
    ("details", "code"),
    [
        (card("4242424242424241"), "incorrect_number"),
        (card("9242424242424242"), "card_not_supported"),
        (card("4242424242424242", month=5, year=2025), "expired_card"),
        (card("4242424242424242", month=13, year=2030), "invalid_expiry_month"),
        (card("4242424242424242", month=1, year=2060), "invalid_expiry_year"),
        (card("4242424242424242", cvc="12"), "invalid_cvc"),
        (card("378282246310005", cvc="123"), "invalid_cvc"),
    ],
)
async def test_cards_that_fail_the_checks_are_refused_like_a_provider_would(
    sandbox: SandboxProvider, details: CardDetails, code: str
) -> None:
    result = await charge(sandbox, details)
    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, code)


async def test_a_card_is_good_through_the_month_the_sandbox_clock_is_in(
    sandbox: SandboxProvider, clock: Clock
) -> None:
    clock.now = datetime(2025, 6, 30, 23, 59, tzinfo=UTC)
    ok = await charge(sandbox, card("4242424242424242", month=6, year=25), idempotency_key="a")
    clock.now = datetime(2025, 7, 1, 0, 0, tzinfo=UTC)
    late = await charge(sandbox, card("4242424242424242", month=6, year=25), idempotency_key="b")
    assert (ok.status, late.failure_code) == (PaymentStatus.SUCCEEDED, "expired_card")


# --- idempotency ----------------------------------------------------------------------------


async def test_the_same_idempotency_key_twice_gives_the_same_result_and_one_payment(
    sandbox: SandboxProvider,
) -> None:
    first = await charge(sandbox, card("4242424242424242"))
    second = await charge(sandbox, card("4242424242424242"))
    assert second == first
    assert sandbox.references() == [first.provider_ref]


async def test_a_declined_charge_is_replayed_as_declined(sandbox: SandboxProvider) -> None:
    first = await charge(sandbox, card("4000000000000002"))
    assert await charge(sandbox, card("4000000000000002")) == first


async def test_a_key_reused_with_another_amount_is_an_error(sandbox: SandboxProvider) -> None:
    await charge(sandbox, card("4242424242424242"))
    with pytest.raises(ProviderError, match="idempotency key reused"):
        await charge(sandbox, card("4242424242424242"), amount_minor=99_99)
    with pytest.raises(ProviderError, match="idempotency key reused"):
        await charge(sandbox, card("5555555555554444"))
    assert len(sandbox.references()) == 1


async def test_different_keys_make_different_payments(sandbox: SandboxProvider) -> None:
    one = await charge(sandbox, card("4242424242424242"), idempotency_key="k1")
    two = await charge(sandbox, card("4242424242424242"), idempotency_key="k2")
    assert one.provider_ref != two.provider_ref
    assert len(sandbox.references()) == 2


async def test_the_payment_reference_follows_from_the_key_across_restarts(clock: Clock) -> None:
    first = await charge(
        SandboxProvider(webhook_secret=SECRET, clock=clock), card("4242424242424242")
    )
    again = await charge(
        SandboxProvider(webhook_secret=SECRET, clock=clock), card("4242424242424242")
    )
    assert first.provider_ref == again.provider_ref


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount_minor": 0},
        {"amount_minor": -100},
        {"amount_minor": 12.5},
        {"amount_minor": True},
        {"currency": "XYZ"},
        {"idempotency_key": ""},
    ],
)
async def test_bad_requests_are_provider_errors(
    sandbox: SandboxProvider, overrides: dict[str, object]
) -> None:
    with pytest.raises(ProviderError):
        await charge(sandbox, card("4242424242424242"), **overrides)


# --- pay links ------------------------------------------------------------------------------


async def test_a_pay_link_is_a_sandbox_url_paid_by_settling_it(sandbox: SandboxProvider) -> None:
    arguments = {"amount_minor": 40_00, "currency": "ILS", "idempotency_key": "link-1",
                 "description": "Arrears", "customer_ref": "cust_1"}  # fmt: skip
    link = await sandbox.create_pay_link(**arguments)  # type: ignore[arg-type]
    assert link.url == f"https://sandbox.ledgerline.invalid/pay/{link.provider_ref}"
    assert link.expires_at == START + timedelta(days=7)
    assert await sandbox.create_pay_link(**arguments) == link  # type: ignore[arg-type]

    [event] = sandbox.parse_webhook(*sandbox.settle(link.provider_ref))
    assert (event.resource, event.type, event.status) == (
        "pay_link",
        "pay_link.succeeded",
        "succeeded",
    )
    assert event.details == {"amount_minor": "4000", "currency": "ILS"}
    with pytest.raises(ProviderError):
        sandbox.settle(link.provider_ref)


# --- mandates -------------------------------------------------------------------------------

GB_GOCARDLESS = validate_uk_account("200000", "55779911", account_holder="Dana Levi")
GB_STRIPE = validate_uk_account("108800", "00012345", account_holder="Dana Levi")
GB_FAILING = validate_uk_account("200000", "55770002", account_holder="Dana Levi")
DE_GOOD = validate_iban("DE89370400440532013000", account_holder="Dana Levi")
FR_GOOD = validate_iban("FR1420041010050500013M02606", account_holder="Dana Levi")
DE_FAILING = validate_iban("DE62370400440532013001", account_holder="Dana Levi")
LT_GOOD = validate_iban("LT121000011101001000", account_holder="Dana Levi")
US_GOCARDLESS = validate_us_account("026073150", "2715500356", account_holder="Dana Levi")
US_FAILING = validate_us_account("026073150", "2715500002", account_holder="Dana Levi")
IL_GOOD = validate_israeli_account("12", "571", "41116", account_holder="Dana Levi")


@pytest.mark.parametrize(
    ("account", "scheme", "status"),
    [
        (GB_GOCARDLESS, "bacs", MandateStatus.ACTIVE),
        (GB_STRIPE, "bacs", MandateStatus.ACTIVE),
        (GB_FAILING, "bacs", MandateStatus.FAILED),
        (DE_GOOD, "sepa_core", MandateStatus.ACTIVE),
        (FR_GOOD, "sepa_core", MandateStatus.ACTIVE),
        (DE_FAILING, "sepa_core", MandateStatus.FAILED),
        (LT_GOOD, "sepa_core", MandateStatus.ACTIVE),
        (US_GOCARDLESS, "ach", MandateStatus.ACTIVE),
        (US_FAILING, "ach", MandateStatus.FAILED),
        (IL_GOOD, "masav", MandateStatus.ACTIVE),
    ],
)
async def test_mandates_from_test_bank_details_follow_the_table(
    sandbox: SandboxProvider, account: BankAccount, scheme: str, status: MandateStatus
) -> None:
    result = await sandbox.create_mandate(
        account, scheme=scheme, idempotency_key="m-1", customer_ref="cust_1"
    )
    assert (result.status, result.scheme, result.setup_url) == (status, scheme, None)
    again = await sandbox.create_mandate(
        account, scheme=scheme, idempotency_key="m-1", customer_ref="cust_1"
    )
    assert again == result


@pytest.mark.parametrize(
    ("account", "scheme"),
    [(GB_GOCARDLESS, "sepa_core"), (DE_GOOD, "bacs"), (IL_GOOD, "ach"), (US_GOCARDLESS, "masav"),
     (DE_GOOD, "becs")],
)  # fmt: skip
async def test_bank_details_that_do_not_fit_the_scheme_are_refused(
    sandbox: SandboxProvider, account: BankAccount, scheme: str
) -> None:
    with pytest.raises(ProviderError):
        await sandbox.create_mandate(account, scheme=scheme, idempotency_key="m", customer_ref="c")


async def test_a_mandate_by_link_is_pending_until_the_payer_completes_it(
    sandbox: SandboxProvider,
) -> None:
    mandate = await sandbox.create_mandate_link(
        scheme="sepa_core", idempotency_key="ml-1", customer_ref="cust_1", customer_name="Dana"
    )
    assert mandate.status is MandateStatus.PENDING
    assert mandate.setup_url == f"https://sandbox.ledgerline.invalid/mandate/{mandate.provider_ref}"

    early = await sandbox.charge_mandate(
        mandate.provider_ref, amount_minor=10_00, currency="EUR", idempotency_key="p-0",
        description="June",
    )  # fmt: skip
    assert (early.status, early.failure_code) == (PaymentStatus.FAILED, "mandate_not_active")

    [event] = sandbox.parse_webhook(*sandbox.settle(mandate.provider_ref))
    assert (event.type, event.resource, event.status) == ("mandate.active", "mandate", "active")
    assert event.details == {"scheme": "sepa_core"}
    collection = await sandbox.charge_mandate(
        mandate.provider_ref, amount_minor=10_00, currency="EUR", idempotency_key="p-1",
        description="June",
    )  # fmt: skip
    assert collection.status is PaymentStatus.PENDING


async def active_mandate(sandbox: SandboxProvider) -> str:
    result = await sandbox.create_mandate(
        GB_GOCARDLESS, scheme="bacs", idempotency_key="mandate", customer_ref="cust_1"
    )
    return result.provider_ref


async def collect(sandbox: SandboxProvider, mandate: str, amount: int, key: str) -> ChargeResult:
    return await sandbox.charge_mandate(
        mandate, amount_minor=amount, currency="GBP", idempotency_key=key, description="June"
    )


async def test_a_collection_is_pending_and_settles_as_succeeded(sandbox: SandboxProvider) -> None:
    collection = await collect(sandbox, await active_mandate(sandbox), 25_00, "c-1")
    assert (collection.status, collection.failure_code) == (PaymentStatus.PENDING, None)
    [event] = sandbox.parse_webhook(*sandbox.settle(collection.provider_ref))
    assert (event.type, event.provider_ref, event.status) == (
        "payment.succeeded", collection.provider_ref, "succeeded",
    )  # fmt: skip
    assert event.details == {"amount_minor": "2500", "currency": "GBP"}
    assert sandbox.status_of(collection.provider_ref) == "succeeded"


@pytest.mark.parametrize("amount", [13, 10_13, 999_13])
async def test_a_collection_of_an_amount_ending_in_13_settles_as_failed(
    sandbox: SandboxProvider, amount: int
) -> None:
    collection = await collect(sandbox, await active_mandate(sandbox), amount, "c-13")
    assert collection.status is PaymentStatus.PENDING
    [event] = sandbox.parse_webhook(*sandbox.settle(collection.provider_ref))
    assert (event.type, event.status) == ("payment.failed", "failed")
    assert event.details["failure_code"] == "insufficient_funds"


async def test_settle_can_force_an_outcome(sandbox: SandboxProvider) -> None:
    collection = await collect(sandbox, await active_mandate(sandbox), 25_00, "c-2")
    [event] = sandbox.parse_webhook(*sandbox.settle(collection.provider_ref, PaymentStatus.FAILED))
    assert event.status == "failed"
    with pytest.raises(ProviderError, match="cannot become"):
        sandbox.settle(collection.provider_ref, PaymentStatus.SUCCEEDED)


async def test_a_cancelled_mandate_can_no_longer_be_collected(sandbox: SandboxProvider) -> None:
    mandate = await active_mandate(sandbox)
    [event] = sandbox.parse_webhook(*sandbox.settle(mandate, MandateStatus.CANCELLED))
    assert event.type == "mandate.cancelled"
    collection = await collect(sandbox, mandate, 25_00, "c-3")
    assert collection.failure_code == "mandate_not_active"


async def test_collections_are_idempotent_too(sandbox: SandboxProvider) -> None:
    mandate = await active_mandate(sandbox)
    first = await collect(sandbox, mandate, 25_00, "c-4")
    assert await collect(sandbox, mandate, 25_00, "c-4") == first
    with pytest.raises(ProviderError, match="idempotency key reused"):
        await collect(sandbox, mandate, 26_00, "c-4")


async def test_a_collection_in_another_currency_is_refused(sandbox: SandboxProvider) -> None:
    mandate = await active_mandate(sandbox)
    with pytest.raises(ProviderError, match="collects in GBP"):
        await sandbox.charge_mandate(
            mandate, amount_minor=100, currency="EUR", idempotency_key="x", description="d"
        )


async def test_a_mandate_another_process_made_is_collected_as_an_active_one(
    sandbox: SandboxProvider,
) -> None:
    # The sandbox keeps no state between processes (`ledgerline collect` runs apart from
    # `serve`, the demo seeds mandates directly): it takes the bank's word that it is active.
    result = await collect(sandbox, "md_made_elsewhere", 100, "y")
    assert result.status.value == "pending"


async def test_a_card_payment_is_final_and_cannot_be_settled(sandbox: SandboxProvider) -> None:
    paid = await charge(sandbox, card("4242424242424242"))
    with pytest.raises(ProviderError):
        sandbox.settle(paid.provider_ref)
    with pytest.raises(ProviderError):
        sandbox.settle("sbx_pay_nothing")


# --- webhooks -------------------------------------------------------------------------------


def event(**overrides: object) -> WebhookEvent:
    values: dict[str, object] = {
        "event_id": "evt_1",
        "type": "payment.succeeded",
        "resource": "payment",
        "provider_ref": "sbx_pay_1",
        "status": "succeeded",
        "occurred_at": START,
        "details": {"amount_minor": "100", "currency": "EUR"},
    } | overrides
    return WebhookEvent(**values)  # type: ignore[arg-type]


def test_a_signed_delivery_round_trips_to_the_same_events(sandbox: SandboxProvider) -> None:
    events = [event(), event(event_id="evt_2", type="mandate.active", resource="mandate",
                             provider_ref="sbx_md_1", status="active", details={})]  # fmt: skip
    body, headers = sandbox.webhook(events)
    assert sandbox.parse_webhook(body, headers) == events


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body(sandbox: SandboxProvider) -> None:
    body, headers = sandbox.webhook([event()])
    timestamp = int(START.timestamp())
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers[SIGNATURE_HEADER] == f"t={timestamp},v1={expected.hexdigest()}"


def test_the_signature_header_is_found_whatever_its_case(sandbox: SandboxProvider) -> None:
    body, headers = sandbox.webhook([event()])
    lower = {key.lower(): value for key, value in headers.items()}
    assert sandbox.parse_webhook(body, lower)[0].event_id == "evt_1"


def test_a_tampered_body_under_a_replayed_signature_is_rejected(sandbox: SandboxProvider) -> None:
    body, headers = sandbox.webhook([event()])
    tampered = body.replace(b'"amount_minor":"100"', b'"amount_minor":"1"')
    assert tampered != body
    with pytest.raises(WebhookRejected, match="does not match"):
        sandbox.parse_webhook(tampered, headers)


def test_a_signature_made_with_another_secret_is_rejected(clock: Clock) -> None:
    other = SandboxProvider(webhook_secret="whsec_someone_else", clock=clock)
    body, headers = other.webhook([event()])
    with pytest.raises(WebhookRejected):
        SandboxProvider(webhook_secret=SECRET, clock=clock).parse_webhook(body, headers)


def test_a_delivery_is_accepted_within_300_seconds_and_rejected_after(
    sandbox: SandboxProvider, clock: Clock
) -> None:
    body, headers = sandbox.webhook([event()])
    clock.advance(300)
    assert sandbox.parse_webhook(body, headers)
    clock.advance(1)
    with pytest.raises(WebhookRejected, match="tolerance"):
        sandbox.parse_webhook(body, headers)


def test_a_delivery_stamped_too_far_in_the_future_is_rejected(
    sandbox: SandboxProvider, clock: Clock
) -> None:
    body, headers = sandbox.webhook([event()])
    clock.advance(-301)
    with pytest.raises(WebhookRejected, match="tolerance"):
        sandbox.parse_webhook(body, headers)


def test_changing_the_timestamp_to_look_fresh_breaks_the_signature(
    sandbox: SandboxProvider, clock: Clock
) -> None:
    body, headers = sandbox.webhook([event()])
    clock.advance(3600)
    signature = headers[SIGNATURE_HEADER].split(",v1=")[1]
    fresh = {SIGNATURE_HEADER: f"t={int(clock.now.timestamp())},v1={signature}"}
    with pytest.raises(WebhookRejected, match="does not match"):
        sandbox.parse_webhook(body, fresh)


def test_any_of_several_v1_signatures_may_match(sandbox: SandboxProvider) -> None:
    body, headers = sandbox.webhook([event()])
    t, v1 = headers[SIGNATURE_HEADER].split(",")
    rotated = {SIGNATURE_HEADER: f"{t},v1={'0' * 64},{v1}"}
    assert sandbox.parse_webhook(body, rotated)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=abc,v1=abc", "t=1749988800", "garbage"])
def test_a_missing_or_malformed_signature_header_is_rejected(
    sandbox: SandboxProvider, header: str | None
) -> None:
    body, _ = sandbox.webhook([event()])
    headers = {} if header is None else {SIGNATURE_HEADER: header}
    with pytest.raises(WebhookRejected):
        sandbox.parse_webhook(body, headers)


@pytest.mark.parametrize(
    "payload", [b"not json", b"[]", b'{"events": [{"id": "x"}]}', b'{"events": 1}']
)
def test_a_signed_payload_that_is_not_an_event_list_is_rejected(
    sandbox: SandboxProvider, payload: bytes
) -> None:
    t = int(START.timestamp())
    signature = hmac.new(SECRET.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookMalformed):
        sandbox.parse_webhook(payload, {SIGNATURE_HEADER: f"t={t},v1={signature}"})


@pytest.mark.parametrize("t", ["9" * 5000, "1" * 400, "²", "١٧٤٩٩٨٨٨٠٠"])
def test_a_timestamp_that_is_no_unix_time_is_a_rejected_signature_not_a_crash(
    sandbox: SandboxProvider, t: str
) -> None:
    body, _ = sandbox.webhook([event()])
    with pytest.raises(WebhookRejected, match="not t="):
        sandbox.parse_webhook(body, {SIGNATURE_HEADER: f"t={t},v1={'0' * 64}"})


def signed_events(*items: object) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"events": list(items)}).encode()
    t = int(START.timestamp())
    signature = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {SIGNATURE_HEADER: f"t={t},v1={signature}"}


GOOD = {"id": "sbx_evt_1", "type": "payment.succeeded", "created": int(START.timestamp()),
        "resource": "payment", "provider_ref": "sbx_pay_1", "status": "succeeded",
        "details": {}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "e" * 10_000}, "events[0].id"),
        ({"id": 12}, "events[0].id"),
        ({"id": ["x"]}, "events[0].id"),
        ({"provider_ref": {"a": 1}}, "events[0].provider_ref"),
        ({"provider_ref": "r" * 129}, "events[0].provider_ref"),
        ({"created": 2**70}, "events[0].created"),
        ({"created": "1749988800"}, "events[0].created"),
        ({"created": True}, "events[0].created"),
        ({"status": ["succeeded"]}, None),  # unhashable: unknown, not a crash
        ({"type": {"nested": [[[]]]}}, "events[0].type"),
        ({"type": "payment.succeeded\n2026-01-01 INFO forged log line"}, "events[0].type"),
        ({"details": [1, 2]}, "events[0].details"),
        ({"resource": 5}, "events[0].resource"),
    ],
)
def test_a_signed_event_with_a_malformed_field_is_refused_naming_the_field(
    sandbox: SandboxProvider, change: dict[str, object], field: str | None
) -> None:
    body, headers = signed_events(GOOD | change)
    if field is None:
        [parsed] = sandbox.parse_webhook(body, headers)
        assert not parsed.raw_type_known
        return
    with pytest.raises(WebhookMalformed) as refused:
        sandbox.parse_webhook(body, headers)
    assert refused.value.field == field
    assert "x" * 20 not in str(refused.value)


def test_provider_free_text_is_capped_and_card_numbers_in_it_are_masked(
    sandbox: SandboxProvider,
) -> None:
    details = {"failure_code": "card 4242 4242 4242 4242 declined", "failure_message": "m" * 5000,
               "nested": {"deep": [1]}, **{f"k{n}": "v" for n in range(50)}}  # fmt: skip
    body, headers = signed_events(GOOD | {"details": details})

    [parsed] = sandbox.parse_webhook(body, headers)

    assert parsed.details["failure_code"] == "card **** **** **** 4242 declined"
    assert len(parsed.details["failure_message"]) == 200
    assert "nested" not in parsed.details and len(parsed.details) <= 20


def test_an_event_type_we_do_not_act_on_is_passed_on_marked_unknown(
    sandbox: SandboxProvider,
) -> None:
    body, headers = sandbox.webhook([event(type="payment.disputed", status="disputed")])
    [parsed] = sandbox.parse_webhook(body, headers)
    assert (parsed.raw_type_known, parsed.status, parsed.type) == (False, None, "payment.disputed")


async def test_the_event_id_of_a_settlement_is_the_same_after_a_restart(clock: Clock) -> None:
    async def settle_once() -> str:
        sandbox = SandboxProvider(webhook_secret=SECRET, clock=clock)
        mandate = await active_mandate(sandbox)
        collection = await collect(sandbox, mandate, 25_00, "c-5")
        return sandbox.parse_webhook(*sandbox.settle(collection.provider_ref))[0].event_id

    assert await settle_once() == await settle_once()


# --- card data stays out of everything --------------------------------------------------------


def walk(value: object, seen: set[int] | None = None) -> list[object]:
    """Every object reachable from `value` through containers, dataclasses and __dict__."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    found: list[object] = [value]
    children: list[object] = []
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        children = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        children = list(vars(value).values())
    for child in children:
        found.extend(walk(child, seen))
    return found


@pytest.mark.parametrize(
    ("number", "cvc"),
    [
        ("4242424242424242", "314"),
        ("378282246310005", "2718"),
        ("4000000000000002", "271"),
        ("4000000000000127", "828"),
        ("4242424242424241", "459"),
    ],
)
async def test_card_number_and_cvc_never_appear_in_results_logs_errors_or_sandbox_state(
    sandbox: SandboxProvider, caplog: pytest.LogCaptureFixture, number: str, cvc: str
) -> None:
    caplog.set_level(logging.DEBUG)
    details = CardDetails(number, 12, 2030, cvc)
    result = await charge(sandbox, details, idempotency_key="leak")
    texts = [repr(result), str(result), repr(sandbox), str(sandbox), repr(details)]
    texts.append(json.dumps(dataclasses.asdict(result)))
    for bad in ({"amount_minor": 1}, {"currency": "XYZ"}):
        with pytest.raises(ProviderError) as caught:
            await charge(sandbox, details, idempotency_key="leak", **bad)
        texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(ProviderUnavailable) as unavailable:
        processing_error = CardDetails("4000000000000119", 12, 2030, cvc[:3])
        await charge(sandbox, processing_error, idempotency_key="u")
    texts += [str(unavailable.value), repr(unavailable.value)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert caplog.records, "the sandbox logs its charges"
    for text in texts:
        # The reference is hex from a hash: mask it so a CVC cannot match by chance inside it.
        text = text.replace(result.provider_ref, "<ref>")
        assert number not in text
        assert number[:-4] not in text  # the part beyond last4
        assert cvc not in text
    reachable = walk(sandbox)
    assert not any(isinstance(thing, CardDetails) for thing in reachable)
    for thing in reachable:
        if isinstance(thing, str):
            assert number not in thing and number[:-4] not in thing
            assert thing != cvc


def test_a_providers_failure_code_and_message_are_cleaned_masked_and_capped() -> None:
    result = ChargeResult(PaymentStatus.FAILED, "pi_1", failure_code="x" * 10_000 + "\u202e",
                          failure_message="card 4111 1111 1111 1111 was declined\x00")  # fmt: skip

    assert result.failure_code is not None and len(result.failure_code) == 64
    assert result.failure_message == "card **** **** **** 1111 was declined"
