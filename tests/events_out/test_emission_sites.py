"""Each place a payment, mandate, credit or call changes tells the billing system once, in
the change's own transaction: the event's object as the change left it, the account entry
it wrote, and never a second event for a retry or a replay that changed nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from billing_bridge.account_credits import CreditAsked, decide_credit, grant_on_account
from billing_bridge.credits import By
from billing_bridge.mandate_links import MandateLinkOrder, MandateParty, send_mandate_link
from billing_bridge.payments.ledger import record_card_payment
from billing_bridge.payments.pay_links import OutboxOnlySender
from billing_bridge.payments.port import ChargeResult, PaymentStatus, WebhookEvent
from billing_bridge.payments.reviews import decide_review, open_reviews
from billing_bridge.payments.sandbox import SandboxProvider
from billing_bridge.payments.webhooks import apply_events
from pbx import audit
from pbx.callflow.call_log import CallLog
from pbx.db.database import Database
from pbx.db.models import BillingEvent, Credit, Mandate, Queue, Recording, User
from tests.events_out.support import Business, business, entry, events_of

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
CARD = "4242424242424242"


async def _call(database: Database, shop: Business) -> int:
    return await CallLog(database).open(
        shop.tenant_id, channel_id="1796186364.7", caller_raw="0502345678",
        caller_number="+972502345678", dialed_number="+97237630100", match="unique",
        customer_id=shop.customer_id, priority=0, arrived_at=T0,
    )  # fmt: skip


async def _pay_by_card(database: Database, shop: Business, call_id: int | None,
                       key: str = "call-1-pay", ref: str = "pi_1") -> None:  # fmt: skip
    await record_card_payment(
        database, shop.tenant_id, account_id=shop.account_id, call_id=call_id,
        amount_minor=1_500, currency="ILS", provider="sandbox", idempotency_key=key,
        result=ChargeResult(PaymentStatus.SUCCEEDED, ref, card_last4="4242", card_brand="visa"),
        actor_id=None, actor_label="agent:dana",
    )  # fmt: skip


def _provider_event(event_id: str, resource: str, ref: str, status: str, minutes: int,
                    **details: str) -> WebhookEvent:  # fmt: skip
    return WebhookEvent(event_id, f"{resource}.{status}", resource, ref, status,
                        T0 + timedelta(minutes=minutes), details=details)  # fmt: skip


def _object(event: BillingEvent) -> dict:
    return event.data


async def test_a_card_payment_in_a_call_emits_one_succeeded_event_with_its_entry(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    call_id = await _call(database, shop)

    await _pay_by_card(database, shop, call_id)
    await _pay_by_card(database, shop, call_id)  # the same key again: a retry

    [event] = await events_of(database, shop.tenant_id)
    payment = _object(event)
    assert (event.type, event.account_id) == ("payment.succeeded", shop.account_id)
    assert payment["object"] == "payment" and payment["status"] == "succeeded"
    assert (payment["amount_minor"], payment["currency"]) == (1_500, "ILS")
    assert payment["method"] == "card"
    assert (payment["account_ref"], payment["customer_ref"]) == ("ofek-A1", "ofek-C1")
    assert (payment["provider"], payment["provider_ref"]) == ("sandbox", "pi_1")
    assert payment["card"] == {"brand": "visa", "last4": "4242"}
    assert payment["call_id"] == call_id and payment["created_at"].endswith("Z")
    paid = await entry(database, shop.tenant_id, event.entry_id)
    assert (paid.kind, paid.amount_minor, paid.account_id) == ("payment", -1_500, shop.account_id)


async def test_a_declined_card_payment_emits_a_failed_event_without_an_entry(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")

    await record_card_payment(
        database, shop.tenant_id, account_id=shop.account_id, call_id=None, amount_minor=900,
        currency="ILS", provider="sandbox", idempotency_key="desk-9",
        result=ChargeResult(PaymentStatus.FAILED, "pi_9", failure_code="card_declined",
                            card_last4="0002", card_brand="visa"),
        actor_id=None, actor_label="agent:dana",
    )  # fmt: skip

    [event] = await events_of(database, shop.tenant_id)
    assert event.type == "payment.failed" and event.entry_id is None
    assert _object(event)["failure_reason"] == "card_declined"


async def test_partial_then_full_refunds_by_webhook_each_emit_once_with_their_entry(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    await _pay_by_card(database, shop, None)
    partial = _provider_event("ev_r1", "payment", "pi_1", "partially_refunded", 5,
                              refunded_minor="500")  # fmt: skip

    await apply_events(database, "sandbox", [partial], now=T0)
    await apply_events(database, "sandbox", [partial], now=T0)  # a replay
    await apply_events(database, "sandbox", [_provider_event("ev_r2", "payment", "pi_1",
                                                             "refunded", 9)], now=T0)  # fmt: skip

    _, first, second = await events_of(database, shop.tenant_id)
    assert [first.type, second.type] == ["payment.refunded", "payment.refunded"]
    assert (_object(first)["status"], _object(first)["refunded_minor"]) == (
        "partially_refunded", 500)  # fmt: skip
    assert (_object(second)["status"], _object(second)["refunded_minor"]) == ("refunded", 1_500)
    assert (await entry(database, shop.tenant_id, first.entry_id)).amount_minor == 500
    assert (await entry(database, shop.tenant_id, second.entry_id)).amount_minor == 1_000


async def test_a_chargeback_by_webhook_emits_a_charged_back_event_with_its_entry(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    await _pay_by_card(database, shop, None)

    dispute = _provider_event("ev_d1", "payment", "pi_1", "charged_back", 5)
    await apply_events(database, "sandbox", [dispute], now=T0)

    _, event = await events_of(database, shop.tenant_id)
    charged = await entry(database, shop.tenant_id, event.entry_id)
    assert event.type == "payment.charged_back" and _object(event)["status"] == "charged_back"
    assert (charged.kind, charged.amount_minor) == ("chargeback", 1_500)


async def test_a_held_failure_emits_only_when_a_supervisor_applies_it(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana, _ = await _users(database, shop)
    await _pay_by_card(database, shop, None)

    late = _provider_event("ev_f1", "payment", "pi_1", "failed", 5, failure_code="fraudulent")
    await apply_events(database, "sandbox", [late], now=T0)
    assert len(await events_of(database, shop.tenant_id)) == 1  # held: nothing moved yet
    [held] = await open_reviews(database, shop.tenant_id)
    await decide_review(database, shop.tenant_id, held.review_id, apply=True,
                        actor_id=dana.user_id or 0, actor_label="supervisor", now=T0)  # fmt: skip

    _, failed = await events_of(database, shop.tenant_id)
    reversed_entry = await entry(database, shop.tenant_id, failed.entry_id)
    assert (failed.type, _object(failed)["status"]) == ("payment.failed", "failed")
    assert (reversed_entry.kind, reversed_entry.amount_minor) == ("payment_reversed", 1_500)


async def test_a_mandate_activated_by_the_provider_s_webhook_emits_once(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        session.add(Mandate(customer_id=shop.customer_id, account_id=shop.account_id,
                            provider="sandbox", provider_ref="md_1", scheme="masav",
                            status="pending"))  # fmt: skip

    await apply_events(database, "sandbox", [_provider_event("ev_m1", "mandate", "md_1",
                                                             "active", 5)], now=T0)  # fmt: skip
    await apply_events(database, "sandbox", [_provider_event("ev_m2", "mandate", "md_1",
                                                             "active", 6)], now=T0)  # fmt: skip

    [event] = await events_of(database, shop.tenant_id)
    mandate = _object(event)
    assert (event.type, event.account_id, event.entry_id) == ("mandate.active", shop.account_id,
                                                              None)  # fmt: skip
    assert (mandate["object"], mandate["status"], mandate["scheme"]) == ("mandate", "active",
                                                                         "masav")  # fmt: skip
    assert (mandate["provider_ref"], mandate["customer_ref"]) == ("md_1", "ofek-C1")
    assert mandate["status_at"] == "2026-12-06T09:05:00Z" and mandate["created_at"].endswith("Z")


async def test_a_mandate_link_sent_in_a_call_emits_mandate_created_once(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    party = MandateParty(shop.account_id, shop.customer_id, "Ofek Customer", "ofek-C1", None, "IL")
    order = MandateLinkOrder(shop.tenant_id, await _call(database, shop), party, "masav", "sms",
                             "+972502345678", audit.By("agent:dana"))  # fmt: skip

    sent = await send_mandate_link(database, SandboxProvider(webhook_secret="s" * 32),
                                   OutboxOnlySender(), order, now=T0)  # fmt: skip

    [event] = await events_of(database, shop.tenant_id)
    created = _object(event)
    assert (event.type, event.account_id) == ("mandate.created", shop.account_id)
    assert (created["id"], created["status"], created["scheme"]) == (sent.mandate_id, "pending",
                                                                     "masav")  # fmt: skip


async def _users(database: Database, shop: Business) -> tuple[By, By]:
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        dana = User(username="dana", display_name="Dana", role="agent")
        ada = User(username="ada", display_name="Ada", role="admin")
        session.add_all([dana, ada])
        await session.flush()
        return By(dana.id, "agent", "agent:dana"), By(ada.id, "admin", "ada")


async def _grant(database: Database, shop: Business, amount: int, by: By) -> Credit:
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        return await grant_on_account(session, shop.tenant_id,
                                      CreditAsked(shop.account_id, amount, None, "goodwill"),
                                      by=by, now=T0)  # fmt: skip


async def _decide(database: Database, shop: Business, credit_id: int, approve: bool,
                  by: By) -> None:  # fmt: skip
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        await decide_credit(session, shop.tenant_id, credit_id, approve=approve, by=by, now=T0)


async def test_a_credit_granted_at_once_emits_granted_with_its_entry(database: Database) -> None:
    shop = await business(database, "ofek", "+97237630100")
    _, ada = await _users(database, shop)

    credit = await _grant(database, shop, 700, ada)

    [event] = await events_of(database, shop.tenant_id)
    granted = _object(event)
    assert event.type == "credit.granted" and granted["id"] == credit.id
    assert (granted["amount_minor"], granted["currency"], granted["reason_code"]) == (
        700, "ILS", "goodwill")  # fmt: skip
    assert (await entry(database, shop.tenant_id, event.entry_id)).amount_minor == -700


async def test_a_credit_waiting_for_approval_emits_only_when_approved_or_rejected(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana, ada = await _users(database, shop)

    approved = await _grant(database, shop, 9_000, dana)
    rejected = await _grant(database, shop, 8_000, dana)
    assert approved.status == rejected.status == "pending_approval"
    assert await events_of(database, shop.tenant_id) == []
    await _decide(database, shop, approved.id, True, ada)
    await _decide(database, shop, rejected.id, False, ada)

    first, second = await events_of(database, shop.tenant_id)
    assert (first.type, _object(first)["id"], _object(first)["status"]) == (
        "credit.approved", approved.id, "granted")  # fmt: skip
    assert _object(first)["decided_by"] == ada.user_id
    assert (await entry(database, shop.tenant_id, first.entry_id)).amount_minor == -9_000
    assert (second.type, _object(second)["id"], second.entry_id) == (
        "credit.rejected", rejected.id, None)  # fmt: skip


async def test_a_call_ending_emits_call_ended_once_with_its_queue_agent_and_recording(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    dana, _ = await _users(database, shop)
    call_id = await _call(database, shop)
    async with database.tenant_session(shop.tenant_id) as session, session.begin():
        queue = Queue(name="support")
        session.add(queue)
        await session.flush()
        session.add(Recording(call_id=call_id, customer_id=shop.customer_id,
                              agent_id=dana.user_id, status="recording",
                              asterisk_name="rec-1", format="wav"))  # fmt: skip
        queue_id = queue.id
    log = CallLog(database)
    await log.update(shop.tenant_id, call_id, queue_id=queue_id, agent_id=dana.user_id,
                     answered_at=T0 + timedelta(seconds=20))  # fmt: skip

    await log.update(shop.tenant_id, call_id, ended_at=T0 + timedelta(minutes=3),
                     outcome="answered", talk_seconds=160)  # fmt: skip
    await log.update(shop.tenant_id, call_id, ended_at=T0 + timedelta(minutes=4))  # again

    [event] = await events_of(database, shop.tenant_id)
    call = _object(event)
    async with database.tenant_session(shop.tenant_id) as session:
        recording_id = await session.scalar(select(Recording.id))
    assert event.type == "call.ended" and call["object"] == "call" and call["id"] == call_id
    assert (call["customer_ref"], call["queue"], call["agent"]) == ("ofek-C1", "support", "dana")
    assert (call["outcome"], call["talk_seconds"]) == ("answered", 160)
    assert call["recording_id"] == recording_id
    assert call["ended_at"] == "2026-12-06T09:03:00Z"


async def test_no_event_carries_more_of_a_card_than_its_brand_and_last_four(
    database: Database,
) -> None:
    shop = await business(database, "ofek", "+97237630100")
    await _pay_by_card(database, shop, await _call(database, shop))
    await apply_events(database, "sandbox", [_provider_event("ev_r1", "payment", "pi_1",
                                                             "refunded", 5)], now=T0)  # fmt: skip

    events = await events_of(database, shop.tenant_id)
    text = json.dumps([event.data for event in events])
    assert len(events) == 2 and CARD not in text and "424242" not in text
    assert all(set(event.data["card"]) == {"brand", "last4"} for event in events)
