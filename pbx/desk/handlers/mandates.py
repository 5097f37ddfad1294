"""A direct-debit mandate in a call, behind the identity gate: by phone (the caller keys
their bank details and agrees to the consent script) or by the provider's link."""

from __future__ import annotations

from billing_bridge.mandate_links import (
    DEFAULT_SCHEME,
    SCHEME_BY_COUNTRY,
    MandateLinkOrder,
    MandateLinkSent,
    MandateParty,
)
from pbx.desk.commands import Actor, Channel, SendMandateLink, SetUpMandateByPhone
from pbx.desk.errors import Conflict, Invalid, Unavailable
from pbx.desk.handlers.common import Ports, own_call
from pbx.desk.handlers.payments import NO_PROVIDER
from pbx.desk.ports import LiveCall, MandateOrder
from pbx.desk.results import MandateStarted


async def set_up_mandate_by_phone(
    ports: Ports, actor: Actor, command: SetUpMandateByPhone
) -> MandateStarted:
    """The outcome reaches the desk as `mandate.progress` and `mandate.result` events."""
    call, party = await _caller(ports, actor, command.call_id, command.account_id)
    country = (command.country or party.region).upper()
    if country not in SCHEME_BY_COUNTRY or not ports.calls.takes_mandates:
        raise Invalid(f"no direct-debit scheme by phone for {country}")
    to = _recipient(command.channel, command.recipient, call, party)
    order = MandateOrder(party.account_id, country, party.name, party.customer_ref,
                         command.channel, to, party.email, actor.user_id,
                         actor.label)  # fmt: skip
    ports.calls.start_mandate_capture(call.call_id, order)
    return MandateStarted(SCHEME_BY_COUNTRY[country])


async def send_mandate_link(
    ports: Ports, actor: Actor, command: SendMandateLink
) -> MandateLinkSent:
    """The provider's hosted set-up, sent by SMS or email; webhooks keep it current."""
    call, party = await _caller(ports, actor, command.call_id, command.account_id)
    scheme = command.scheme or SCHEME_BY_COUNTRY.get(party.region, DEFAULT_SCHEME)
    to = _recipient(command.channel, command.recipient, call, party)
    return await ports.money.send_mandate_link(MandateLinkOrder(
        actor.tenant_id, call.record_id, party, scheme, command.channel, to, actor,
    ))  # fmt: skip


async def _caller(
    ports: Ports, actor: Actor, call_id: str, account_id: int
) -> tuple[LiveCall, MandateParty]:
    """The live call, behind the identity gate, and the caller's own account."""
    call = own_call(ports, actor, call_id)
    await ports.money.check_verified(call)
    if not ports.money.takes_payments:
        raise Unavailable(NO_PROVIDER, code="payments_unavailable")
    party = await ports.money.mandate_party(actor.tenant_id, account_id, call.customer_id)
    return call, party


def _recipient(channel: Channel, given: str | None, call: LiveCall, party: MandateParty) -> str:
    to = given or (party.email if channel == "email" else call.caller_number)
    if not to:
        raise Conflict(f"no {channel} address on file: give a recipient")
    return to
