"""In-memory fakes of the desk's two ports: live calls (what Asterisk and the ACD hold) and
money (what the ledger holds). They keep state and refuse as the real ones do, in the
desk's own errors; tests assert on that state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import count

from billing_bridge.call_credits import CallCredit, CreditView
from billing_bridge.call_customer import Attached, Attachment
from billing_bridge.mandate_links import MandateLinkOrder, MandateLinkSent, MandateParty
from billing_bridge.payments.pay_links import mask
from billing_bridge.verification_gate import gate
from pbx.desk import errors
from pbx.desk.commands import Actor, AgentStateName, TransferMode
from pbx.desk.local import LocalDesk
from pbx.desk.ports import (
    AgentProfile,
    CardOrder,
    Contact,
    Due,
    InvoiceDue,
    LinkSent,
    LiveCall,
    MandateOrder,
    PayLinkOrder,
    QueueSnapshot,
    RecordingRules,
)
from pbx.desk.results import AgentStateView

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BUSINESS, OTHER_BUSINESS = 1, 2
DANA, AVI, SAM = 11, 12, 13  # agents of the business (SAM supervises)
CALLER = "+972502345678"

dana = Actor(DANA, BUSINESS, False, "agent:dana")
avi = Actor(AVI, BUSINESS, False, "agent:avi")
sam = Actor(SAM, BUSINESS, True, "supervisor:sam")


def a_call(call_id: str = "c-1", **changes: object) -> LiveCall:
    """Dana talking to customer 7, recorded, the IVR having verified nobody."""
    call = LiveCall(call_id, BUSINESS, 100, DANA, 7, CALLER, True, "+97231234567", "1:support",
                    True, None)  # fmt: skip
    return replace(call, **changes)  # type: ignore[arg-type]


@dataclass
class FakeLiveCalls:
    ready: bool = True
    live: dict[str, LiveCall] = field(default_factory=dict)
    profiles: dict[int, AgentProfile] = field(default_factory=dict)
    states: dict[int, AgentStateView] = field(default_factory=dict)
    rules: RecordingRules = field(default_factory=lambda: RecordingRules("on_demand", None, None))
    recording_starts: bool = True
    takes_cards: bool = True
    takes_mandates: bool = True
    snapshots: list[QueueSnapshot] = field(default_factory=list)
    done: list[tuple[str, object]] = field(default_factory=list)  # what was done, in order

    def now(self) -> datetime:
        return NOW

    def call(self, call_id: str) -> LiveCall | None:
        return self.live.get(call_id)

    def calls(self, tenant_id: int) -> Sequence[LiveCall]:
        return [call for call in self.live.values() if call.tenant_id == tenant_id]

    def agent(self, user_id: int) -> AgentProfile | None:
        return self.profiles.get(user_id)

    def agents(self, tenant_id: int) -> Sequence[int]:
        return [p.user_id for p in self.profiles.values() if p.tenant_id == tenant_id]

    def agent_state(self, user_id: int) -> AgentStateView:
        return self.states.get(user_id, AgentStateView(user_id, "logged_out"))

    async def set_agent_state(self, user_id: int, state: AgentStateName, reason: str) -> None:
        self.states[user_id] = AgentStateView(user_id, state, reason or None, NOW)

    async def hold(self, call_id: str, tenant_id: int) -> None:
        self.done.append(("hold", call_id))

    async def resume(self, call_id: str, tenant_id: int) -> None:
        self.done.append(("resume", call_id))

    async def hang_up(self, call_id: str, tenant_id: int) -> None:
        self.done.append(("hang_up", call_id))

    async def complete_transfer(self, call_id: str, tenant_id: int) -> None:
        self.done.append(("complete_transfer", call_id))

    async def cancel_transfer(self, call_id: str, tenant_id: int) -> None:
        self.done.append(("cancel_transfer", call_id))

    async def transfer_to_queue(self, call_id: str, tenant_id: int, queue: str) -> None:
        self.done.append(("transfer", queue))

    async def transfer_to_agent(
        self, call_id: str, tenant_id: int, user_id: int, mode: TransferMode
    ) -> None:
        self.done.append(("transfer", (user_id, mode)))

    async def transfer_to_number(
        self, call_id: str, tenant_id: int, number: str, mode: TransferMode
    ) -> None:
        self.done.append(("transfer", (number, mode)))

    def recording_rules(self, call_id: str) -> RecordingRules:
        return self.rules

    async def pause_recording(self, call_id: str, reason: str, actor: Actor) -> None:
        self.done.append(("pause_recording", reason))

    async def resume_recording(self, call_id: str, actor: Actor) -> None:
        self.done.append(("resume_recording", call_id))

    async def start_recording(self, call_id: str, announcement: str) -> bool:
        self.done.append(("start_recording", announcement))
        if self.recording_starts:
            self.live[call_id] = replace(self.live[call_id], recording=True)
        return self.recording_starts

    async def stop_recording(self, call_id: str) -> None:
        self.live[call_id] = replace(self.live[call_id], recording=False)
        self.done.append(("stop_recording", call_id))

    def start_card_capture(self, call_id: str, order: CardOrder) -> None:
        self.done.append(("card_capture", order))

    def start_mandate_capture(self, call_id: str, order: MandateOrder) -> None:
        self.done.append(("mandate_capture", order))

    async def click_to_call(
        self, tenant_id: int, user_id: int, number: str, customer_id: int | None
    ) -> str:
        self.done.append(("click_to_call", number))
        return "out-1"

    def queues(self, tenant_id: int) -> Sequence[QueueSnapshot]:
        return self.snapshots

    async def attach_customer(self, call_id: str, customer_id: int) -> None:
        self.live[call_id] = replace(self.live[call_id], customer_id=customer_id)
        self.done.append(("attach_customer", customer_id))


@dataclass
class FakeMoney:
    """Customer 7 owns account 70 (ILS); customer 8 owns account 80. Open invoices by id:
    (account, outstanding, a Stripe invoice); 701 and 702 are account 70's, 801 account 80's."""

    takes_payments: bool = True
    owners: dict[int, int] = field(default_factory=lambda: {70: 7, 80: 8})
    due: dict[int, int] = field(default_factory=lambda: {70: 45_050, 80: 0})
    invoices: dict[int, tuple[int, int, bool]] = field(default_factory=lambda: {
        701: (70, 30_000, False), 702: (70, 15_050, True), 801: (80, 9_900, False)})  # fmt: skip
    emails: dict[int, str] = field(default_factory=dict)
    region: str = "IL"
    needs_verification: bool = False
    verified_by_agent: set[int] = field(default_factory=set)  # call log rows
    links: list[PayLinkOrder] = field(default_factory=list)
    credits: list[CallCredit] = field(default_factory=list)
    mandate_links: list[MandateLinkOrder] = field(default_factory=list)
    # The business's customers by the numbers they call from (7 and 9 share the caller's).
    phones: dict[int, set[str]] = field(default_factory=lambda: {
        7: {CALLER}, 8: {"+972501111111"}, 9: {CALLER}})  # fmt: skip
    call_customers: dict[int, int | None] = field(default_factory=dict)  # call log rows
    attachments: list[Attachment] = field(default_factory=list)  # the audited picks
    _ids: count = field(default_factory=lambda: count(1))

    async def amount_due(self, tenant_id: int, account_id: int, customer_id: int | None) -> Due:
        self._theirs(account_id, customer_id)
        return Due(self.due[account_id], "ILS")

    async def invoice_due(
        self, tenant_id: int, account_id: int, customer_id: int | None, invoice_id: int
    ) -> InvoiceDue:
        self._theirs(account_id, customer_id)
        found = self.invoices.get(invoice_id)
        if found is None or found[0] != account_id:
            raise errors.Invalid(f"invoice_id: no open invoice {invoice_id}", code="invoice")
        return InvoiceDue(invoice_id, found[1], "ILS", whole_only=found[2])

    async def contact(self, tenant_id: int, customer_id: int | None) -> Contact:
        return Contact(f"C-{customer_id}", self.emails.get(customer_id or 0))

    async def send_pay_link(self, order: PayLinkOrder) -> LinkSent:
        self.links.append(order)
        return LinkSent(next(self._ids), "https://pay.example/l/1", "sent")

    async def record_verification(
        self, call: LiveCall, questions: Sequence[str], actor: Actor
    ) -> None:
        self.verified_by_agent.add(call.record_id)

    async def check_verified(self, call: LiveCall) -> None:
        decision = gate(self.needs_verification, call.ivr_verified,
                        call.record_id in self.verified_by_agent)  # fmt: skip
        if not decision.allowed:
            raise errors.NotVerified(decision.message)

    async def owner_of_account(self, tenant_id: int, account_id: int) -> int | None:
        return self.owners.get(account_id)

    async def grant_credit_in_call(self, order: CallCredit) -> CreditView:
        await self.check_verified(a_call(record_id=order.call_record_id,
                                         ivr_verified=order.ivr_outcome))  # fmt: skip
        self._theirs(order.account_id, order.customer_id)
        self.credits.append(order)
        return CreditView(next(self._ids), order.account_id, order.amount_minor,
                          order.currency or "ILS", order.reason_code, "granted", order.note,
                          order.call_record_id, order.user_id, None, NOW, None)  # fmt: skip

    async def mandate_party(
        self, tenant_id: int, account_id: int, customer_id: int | None
    ) -> MandateParty:
        self._theirs(account_id, customer_id)
        assert customer_id is not None
        return MandateParty(account_id, customer_id, "Dana Cohen", f"C-{customer_id}",
                            self.emails.get(customer_id), self.region)  # fmt: skip

    async def send_mandate_link(self, order: MandateLinkOrder) -> MandateLinkSent:
        self.mandate_links.append(order)
        return MandateLinkSent(next(self._ids), order.scheme, "pending",
                               "https://pay.example/m/1", "sent", mask(order.recipient))

    async def attach_customer(self, order: Attachment) -> Attached:
        if order.tenant_id != BUSINESS or order.customer_id not in self.phones:
            raise errors.NotFound("customer not found")
        if order.via == "household" and order.caller_number not in self.phones[order.customer_id]:
            raise errors.Invalid("not of the household", code="not_of_household")
        previous = self.call_customers.get(order.call_record_id)
        self.call_customers[order.call_record_id] = order.customer_id
        self.attachments.append(order)
        return Attached(order.customer_id, previous)

    def _theirs(self, account_id: int, customer_id: int | None) -> None:
        if self.owners.get(account_id) != customer_id:
            raise errors.NotFound(f"no account {account_id} for this caller")


def desk_with(*calls: LiveCall, **money: object) -> tuple[LocalDesk, FakeLiveCalls, FakeMoney]:
    """A desk over fakes: these calls live, agents dana, avi and sam in the business."""
    live = FakeLiveCalls(live={call.call_id: call for call in calls})
    for user in (DANA, AVI, SAM):
        live.profiles[user] = AgentProfile(user, BUSINESS)
    ledger = FakeMoney(**money)  # type: ignore[arg-type]
    return LocalDesk(live, ledger), live, ledger
