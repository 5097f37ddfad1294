"""`Money` over the database and the payment provider: the desk's ledger port, calling
`billing_bridge` and answering its refusals as the desk's errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from billing_bridge import call_verification, mandate_links
from billing_bridge.business_days import BusinessDays
from billing_bridge.call_credits import CallCredit, CreditView, grant_in_call
from billing_bridge.call_customer import (
    Attached,
    Attachment,
    CallNotLogged,
    CustomerNotFound,
    NotOfHousehold,
    attach_customer,
)
from billing_bridge.call_verification import CallerNotVerified, CallNotFound
from billing_bridge.credits import CreditError
from billing_bridge.mandate_links import MandateLinkOrder, MandateLinkSent, MandateParty
from billing_bridge.payments import ledger, pay_links
from billing_bridge.payments.pay_links import MessageSender
from billing_bridge.payments.port import PaymentProvider, ProviderError
from billing_bridge.stripe_billing.mapping import PROVIDER as STRIPE
from pbx.db.database import Database
from pbx.db.models import Account
from pbx.desk import errors
from pbx.desk.commands import Actor
from pbx.desk.ports import Contact, Due, InvoiceDue, LinkSent, LiveCall, PayLinkOrder

# The desk's error for each `billing_bridge.credits` error code.
CREDIT_ERRORS: dict[str, type[errors.DeskError]] = {
    "not_found": errors.NotFound, "invalid": errors.Invalid, "forbidden": errors.Forbidden,
    "conflict": errors.Conflict, "balance_below_zero": errors.Conflict,
}  # fmt: skip


class LedgerMoney:
    """`payments` and `sender` are asked for each time: a provider may be attached to the
    running service after the desk was built."""

    def __init__(
        self, database: Database, payments: Callable[[], PaymentProvider | None],
        sender: Callable[[], MessageSender], clock: Callable[[], datetime],
    ) -> None:  # fmt: skip
        self.database, self._payments, self._sender, self.clock = database, payments, sender, clock
        self._days = BusinessDays(database, clock)  # "overdue" in each business's own zone

    @property
    def takes_payments(self) -> bool:
        return self._payments() is not None

    def _provider(self) -> PaymentProvider:
        provider = self._payments()
        if provider is None:
            raise errors.Unavailable("no payment provider is configured",
                                     code="payments_unavailable")  # fmt: skip
        return provider

    async def amount_due(self, tenant_id: int, account_id: int, customer_id: int | None) -> Due:
        try:
            today = await self._days.today(tenant_id)
            amount, currency = await ledger.amount_due(
                self.database, tenant_id, account_id, customer_id, today
            )
        except ledger.AccountNotFound as exc:
            raise errors.NotFound(str(exc)) from None
        return Due(amount, currency)

    async def invoice_due(
        self, tenant_id: int, account_id: int, customer_id: int | None, invoice_id: int
    ) -> InvoiceDue:
        try:
            found = await ledger.open_invoice(
                self.database, tenant_id, account_id, customer_id, invoice_id
            )
        except ledger.AccountNotFound as exc:
            raise errors.NotFound(str(exc)) from None
        except ledger.InvoiceNotPayable as exc:
            raise errors.Invalid(f"invoice_id: {exc}", code="invoice") from None
        return InvoiceDue(found.invoice_id, found.outstanding_minor, found.currency,
                          whole_only=found.provider == STRIPE)  # fmt: skip

    async def contact(self, tenant_id: int, customer_id: int | None) -> Contact:
        found = await ledger.customer_contact(self.database, tenant_id, customer_id)
        return Contact(found.ref, found.email)

    async def send_pay_link(self, order: PayLinkOrder) -> LinkSent:
        provider = self._provider()
        try:
            sent = await pay_links.send_pay_link(
                self.database, provider, self._sender(), order.tenant_id,
                account_id=order.account_id, customer_ref=order.customer_ref,
                call_id=order.call_record_id, amount_minor=order.amount_minor,
                currency=order.currency, channel=order.channel, recipient=order.recipient,
                actor_id=order.actor.user_id, actor_label=order.actor.label, now=self.clock(),
            )  # fmt: skip
        except ProviderError as exc:
            raise _provider_refused(f"the payment provider refused: {exc}") from None
        return LinkSent(sent.payment_id, sent.url, sent.status)

    async def record_verification(
        self, call: LiveCall, questions: Sequence[str], actor: Actor
    ) -> None:
        try:
            await call_verification.record_agent_verification(
                self.database, call.tenant_id, call.record_id, call.call_id, questions, actor
            )
        except CallNotFound as exc:
            raise errors.NotFound(str(exc)) from None

    async def check_verified(self, call: LiveCall) -> None:
        try:
            await call_verification.check_verified(
                self.database, call.tenant_id, call.record_id, call.ivr_verified
            )
        except CallNotFound as exc:
            raise errors.NotFound(str(exc)) from None
        except CallerNotVerified as exc:
            raise errors.NotVerified(exc.message) from None

    async def owner_of_account(self, tenant_id: int, account_id: int) -> int | None:
        async with self.database.tenant_autocommit(tenant_id) as session:
            account = await session.get(Account, account_id)
        return account.customer_id if account is not None else None

    async def grant_credit_in_call(self, order: CallCredit) -> CreditView:
        try:
            return await grant_in_call(self.database, order, self.clock())
        except CallNotFound as exc:
            raise errors.NotFound(str(exc)) from None
        except CallerNotVerified as exc:
            raise errors.NotVerified(exc.message) from None
        except CreditError as exc:
            raise CREDIT_ERRORS[exc.code](exc.message, code=exc.code) from None

    async def mandate_party(
        self, tenant_id: int, account_id: int, customer_id: int | None
    ) -> MandateParty:
        try:
            return await mandate_links.mandate_party(
                self.database, tenant_id, account_id, customer_id
            )
        except ledger.AccountNotFound as exc:
            raise errors.NotFound(str(exc)) from None

    async def send_mandate_link(self, order: MandateLinkOrder) -> MandateLinkSent:
        provider = self._provider()
        try:
            return await mandate_links.send_mandate_link(
                self.database, provider, self._sender(), order, now=self.clock()
            )
        except ProviderError as exc:
            raise _provider_refused(f"the provider refused: {exc}") from None

    async def attach_customer(self, order: Attachment) -> Attached:
        try:
            return await attach_customer(self.database, order)
        except (CustomerNotFound, CallNotLogged) as exc:
            raise errors.NotFound(str(exc)) from None
        except NotOfHousehold as exc:
            raise errors.Invalid(str(exc), code="not_of_household") from None


def _provider_refused(message: str) -> errors.Unavailable:
    return errors.Unavailable(message, code="provider_unavailable")
