"""From an empty business to a paid call, with only what an operator and a billing system
have: `ledgerline tenant create`, the admin's set-password link, the admin API (queue, agent,
membership, route, API key, webhook subscription), the billing API (customers, accounts,
invoices), a caller identified by the FastAGI caller lookup and queued by the call flow over
the Asterisk simulator, the agent's desk (screen-pop, card payment keyed on the phone), and
the billing system hearing of it all: signed webhooks to a local receiver, the events feed,
its acknowledgement and the reconciliation report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from agi_scripts.fastagi.server import FastAGIServer
from agi_scripts.handlers.caller_lookup import caller_lookup
from agi_scripts.pop_token import PopTokens
from billing_bridge.identification.cache import NoCache
from billing_bridge.identification.directory import CustomerDirectory
from billing_bridge.identification.service import CallerIdentification
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.auth.ratelimit import MemorySignInLimits
from pbx.auth.sessions import SessionStore
from pbx.bootstrap import desk_for, webhook_worker
from pbx.bus import MemoryBus
from pbx.db.database import Database
from pbx.events.hub import Hub
from pbx.events.log import MemoryEventLog
from pbx.events.publisher import DeskPublisher
from pbx.http.api import PREFIX
from pbx.http.app import build_api
from pbx.http.context import CONFIG_TOPIC, ApiContext
from pbx.installation_secret import MemorySecret
from pbx.settings import load_settings
from pbx.simulator.ari.scripts import Call as SimCall
from pbx.simulator.fastagi_peer import run_fastagi_call
from tests.callflow.test_card_capture import AMEX, AMEX_CVC, EXPIRY
from tests.callflow.world import WAIT_S, World, make_world
from tests.cli_process import run_ledgerline
from tests.http.conftest import PASSWORDS, SIGN_IN_POLICY, _serve
from tests.http.support import ApiClient
from tests.http.test_desk_socket import open_desk
from tests.platform.conftest import PASSWORD, token_of
from tests.webhooks_out.conftest import Receiver
from tests.webhooks_out.test_delivery import documented_verify

DID = "+97237630100"
DID_AS_DIALLED = "037630100"  # the trunk passes the national form
CALLER = "0502345678"
ZONE = ZoneInfo("Asia/Jerusalem")


@dataclass
class Centre:
    """One installation: the call flow over the simulator, the API serving it (with the
    desk socket and the webhook delivery worker), the FastAGI caller lookup, and a local
    receiver standing in for the billing system's webhook endpoint."""

    world: World
    url: str
    agi: FastAGIServer
    receiver: Receiver
    opened: list[ApiClient | BillingSystem] = field(default_factory=list)  # closed at the end

    def client(self) -> ApiClient:
        client = ApiClient(self.url, build_api().document())
        self.opened.append(client)
        return client

    def billing_system(self, key: str) -> BillingSystem:
        system = BillingSystem(self.client(), key)
        self.opened.append(system)
        return system


@pytest.fixture
async def centre(database: Database) -> AsyncIterator[Centre]:
    world = await make_world(database)  # its own business stays untouched beside ours
    bus, hub = MemoryBus(), Hub(MemoryEventLog(retention=1000), wait_s=0.5)
    publisher = DeskPublisher(hub, database, lambda: datetime.now(UTC))
    await publisher.start()
    flow = await world.start_ledgerline(notify=publisher.notify,
                                        payments=SandboxProvider(webhook_secret="s"))  # fmt: skip

    async def reload(message: dict) -> None:
        await flow.reload_config()

    bus.subscribe(CONFIG_TOPIC, reload)
    # The deployment's settings, with receivers on loopback allowed (as the demo's are).
    environ = {"LEDGERLINE_DATABASE_URL": database.url,
               "LEDGERLINE_WEBHOOKS_ALLOW_PRIVATE_HTTP": "true"}  # fmt: skip
    settings = load_settings(environ=environ)
    worker = webhook_worker(database, settings.webhooks)
    worker.start()
    context = ApiContext(
        database,
        SessionStore(database, passwords=PASSWORDS, lifetime_s=3600, idle_s=600),
        MemorySignInLimits(SIGN_IN_POLICY), bus, flow=flow, desk=desk_for(flow, bus, None),
        hub=hub, heartbeat_s=1.0, webhooks=worker,
    )  # fmt: skip
    runner, port = await _serve(context, 0)
    identification = CallerIdentification(CustomerDirectory(database), NoCache(), "IL")
    agi = FastAGIServer(
        {"caller-lookup": caller_lookup(identification, PopTokens(MemorySecret()),
                                        lambda: datetime.now(UTC))},
        host="127.0.0.1", port=0, idle_timeout=2.0, max_sessions=10,
    )  # fmt: skip
    await agi.start()
    receiver = Receiver()
    await receiver.start()
    done = Centre(world, f"http://127.0.0.1:{port}", agi, receiver)
    try:
        yield done
    finally:
        for opened in done.opened:
            await opened.close()
        await receiver.stop()
        await agi.stop()
        await runner.cleanup()
        await worker.stop()
        await publisher.stop()
        await hub.close()
        while world.flows:
            await world.stop_ledgerline()
        await world.sim.stop()


async def ledgerline(database: Database, *argv: str) -> tuple[int, str, str]:
    """The `ledgerline` command in a process of its own, as an operator runs it."""
    return await run_ledgerline(database.url, *argv)


class BillingSystem:
    """The business's billing system: its API key on the billing API and the events feed,
    with an `Idempotency-Key` on the writes it wants made once."""

    def __init__(self, api: ApiClient, key: str) -> None:
        self.api, self.key = api, key
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()

    async def request(self, method: str, path: str, body: Any = None, *,
                      idempotency_key: str | None = None,
                      **query: Any) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.key}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        async with self.http.request(
            method, self.api.base_url + PREFIX + path, json=body, headers=headers,
            params={k: str(v) for k, v in query.items()},
        ) as response:  # fmt: skip
            data = await response.json() if response.status != 204 else None
            self.api.check(method, path, response.status, data)
            return response.status, data, dict(response.headers)

    async def put(self, path: str, body: dict[str, Any], idempotency_key: str) -> str:
        status, answer, _ = await self.request("PUT", path, body,
                                               idempotency_key=idempotency_key)  # fmt: skip
        assert status == 200, answer
        return answer["outcome"]

    async def get(self, path: str, **query: Any) -> Any:
        status, answer, _ = await self.request("GET", path, **query)
        assert status == 200, answer
        return answer


@dataclass
class Provisioned:
    """What the operator and the admin leave behind: the agent signed in on their desk, the
    billing system's API key, and the webhook subscription's secret."""

    agent_id: int
    agent: ApiClient
    agent_token: str
    billing: BillingSystem
    secret: str


async def test_a_business_made_with_the_cli_takes_a_paid_call_its_billing_system_hears_of(
    centre: Centre,
) -> None:
    business = await provision(centre)
    account = await ingest(business.billing)
    payments = await paid_call(centre, business)

    sent = await delivered(centre.receiver, business.secret, payments=2)
    paid = [e for e in sent if e["type"] == "payment.succeeded"]
    [hung_up] = [e for e in sent if e["type"] == "call.ended"]
    # Both payments are the account's: received in the order they were made.
    assert [e["data"]["object"]["id"] for e in paid] == payments
    assert paid[0]["sequence"] < paid[1]["sequence"] < hung_up["sequence"]
    first = paid[0]["data"]["object"]
    assert (first["account_ref"], first["customer_ref"], first["amount_minor"],
            first["currency"], first["status"], first["card"]["last4"]) == (
        "A-1001", "C-1001", 45_050, "ILS", "succeeded", "0005")  # fmt: skip
    call = hung_up["data"]["object"]
    assert (call["customer_ref"], call["queue"], call["agent"], call["outcome"]) == (
        "C-1001", "billing", "avi", "answered")  # fmt: skip
    assert {e["data"]["object"]["call_id"] for e in paid} == {call["id"]}

    billing = business.billing
    feed = await billing.get("/events")
    assert feed["data"] == sorted(sent, key=lambda e: e["sequence"])  # the same, as sent

    await settled_in_billing(billing, account, [e["id"] for e in paid])
    paid_on = datetime.fromisoformat(paid[1]["created"]).astimezone(ZONE).date()
    report = await billing.get("/reports/reconciliation", date=paid_on.isoformat())
    [collected] = [f for f in report["figures"] if f["kind"] == "collected"]
    assert (collected["acknowledged"], collected["count"], collected["amount_minor"],
            collected["currency"]) == (True, 2, 57_050, "ILS")  # fmt: skip
    assert report["unacknowledged"] == []


async def provision(centre: Centre) -> Provisioned:
    """`tenant create`, the admin's link, then a queue, an agent on it, the number's route,
    an API key, a webhook subscription, and the agent's own first password."""
    code, out, err = await ledgerline(
        centre.world.database, "tenant", "create", "acme", "--name", "Acme Energy",
        "--region", "IL", "--currency", "ILS", "--timezone", "Asia/Jerusalem", "--did", DID,
        "--admin", "dana", "--link-base", centre.url,
    )  # fmt: skip
    assert code == 0, err
    admin = await signed_in_through(centre, out.strip().splitlines()[-1], "dana")

    status, queue = await admin.call("POST", "/queues", {"name": "billing",
                                                         "strategy": "linear"})  # fmt: skip
    assert status == 201, queue
    avi = {"username": "avi", "display_name": "Avi", "role": "agent", "endpoint": "PJSIP/1001"}
    status, agent = await admin.call("POST", "/agents", avi)
    assert status == 201, agent
    status, member = await admin.call("PUT", f"/queues/{queue['id']}/members/{agent['id']}",
                                      {"agent_id": agent["id"]})  # fmt: skip
    assert status == 200, member
    status, route = await admin.call("POST", "/routes", {"did": DID, "queue_id": queue["id"]})
    assert status == 201, route
    scopes = ["billing:write", "billing:read", "events:read"]
    status, key = await admin.call("POST", "/api-keys", {"name": "erp", "scopes": scopes})
    assert status == 201, key
    status, subscription = await admin.call("POST", "/webhooks/subscriptions", {
        "url": centre.receiver.url, "event_types": ["payment.succeeded", "call.ended"],
        "description": "the ERP"})  # fmt: skip
    assert status == 201, subscription

    status, invitation = await admin.call("POST", f"/agents/{agent['id']}/invitation")
    assert status == 201, invitation
    desk = await signed_in_through(centre, invitation["url"], "avi")
    assert desk.token is not None
    return Provisioned(agent["id"], desk, desk.token, centre.billing_system(key["secret"]),
                       subscription["secret"])  # fmt: skip


async def signed_in_through(centre: Centre, link: str, username: str) -> ApiClient:
    """The user sets their password through the one-time link, then signs in with it."""
    client = centre.client()
    status, _ = await client.call("POST", "/auth/set-password",
                                  {"token": token_of(link), "password": PASSWORD})  # fmt: skip
    assert status == 204
    await client.login("acme", username, PASSWORD)
    return client


async def ingest(billing: BillingSystem) -> dict[str, Any]:
    """The customer with their phone, their account (balance stated: 570.50, overdue), an
    invoice overdue for a month and one not yet due; each read back. The account's record."""
    today = datetime.now(ZONE).date()
    customer = {"name": "Sara Cohen", "email": "sara@example.com", "phones": ["050-234-5678"],
                "language": "he", "version": 1}  # fmt: skip
    once = "customer-C-1001-v1"
    assert await billing.put("/billing/customers/C-1001", customer, once) == "created"
    status, replay, headers = await billing.request("PUT", "/billing/customers/C-1001", customer,
                                                    idempotency_key=once)  # fmt: skip
    # The same key again: the first answer, replayed, and nothing done again.
    assert (status, replay["outcome"], headers.get("Idempotent-Replayed")) == (200, "created",
                                                                               "true")  # fmt: skip
    account = {"customer": "C-1001", "currency": "ILS", "status": "overdue",
               "balance": 57_050, "version": 1}  # fmt: skip
    assert await billing.put("/billing/accounts/A-1001", account, "account-A-1001-v1") == (
        "created")  # fmt: skip
    overdue = {"account": "A-1001", "amount": 45_050, "issued": _day(today, -60),
               "due": _day(today, -30), "status": "open", "line_summary": "Electricity, autumn",
               "version": 1}  # fmt: skip
    current = {"account": "A-1001", "amount": 12_000, "issued": _day(today, -5),
               "due": _day(today, 25), "status": "open", "line_summary": "Electricity, Nov",
               "version": 1}  # fmt: skip
    for ref, invoice in (("INV-0042", overdue), ("INV-0043", current)):
        assert await billing.put(f"/billing/invoices/{ref}", invoice, f"invoice-{ref}-v1") == (
            "created")  # fmt: skip

    held = await billing.get("/billing/customers/C-1001")
    assert (held["name"], held["phones"]) == ("Sara Cohen", ["+972502345678"])
    held = await billing.get("/billing/accounts/A-1001")
    assert (held["balance"], held["reported_balance"], held["pending_in_billing"]) == (
        57_050, 57_050, 0)  # fmt: skip
    for ref, invoice in (("INV-0042", overdue), ("INV-0043", current)):
        held = await billing.get(f"/billing/invoices/{ref}")
        assert (held["account"], held["outstanding"], held["due"]) == (
            "A-1001", invoice["amount"], invoice["due"])  # fmt: skip
    return account


async def paid_call(centre: Centre, business: Provisioned) -> list[int]:
    """Sara calls: the caller lookup names her, the call flow queues her call, Avi's desk
    pops her overdue invoice; Avi answers and takes the overdue invoice's amount, then the
    rest of the balance, each keyed by Sara on her phone. The payments' ids."""
    world, avi = centre.world, business.agent
    lookup = await run_fastagi_call("127.0.0.1", centre.agi.port, "caller-lookup",
                                    callerid=CALLER, args=(DID_AS_DIALLED,))  # fmt: skip
    told = lookup.variables
    assert (told["LL_MATCH"], told["LL_CUSTOMER_NAME"], told["LL_ACCOUNT_STATUS"]) == (
        "unique", "Sara Cohen", "overdue")  # fmt: skip
    assert (told["LL_BALANCE_MINOR"], told["LL_CURRENCY"]) == ("57050", "ILS")

    world.sim.agent("PJSIP/1001", answer_after=0.2)
    path = f"/agents/{business.agent_id}/state"
    status, state = await avi.call("PUT", path, {"state": "available"})
    assert status == 200 and state["state"] == "available", state
    desk = await open_desk(centre.url, business.agent_token)
    try:
        # As Asterisk does: the AGI's variables on the channel that enters Stasis.
        call = await world.sim.incoming_call(DID_AS_DIALLED, CALLER, variables=told)
        assert not call.failed, "the call did not reach Stasis(ledgerline)"
        pop = (await desk.next("call.offered"))["data"]
        assert (pop["call_id"], pop["queue"], pop["match"]) == (call.channel_id, "billing",
                                                                "unique")  # fmt: skip
        panel = pop["panel"]
        [account] = panel["accounts"]
        assert (panel["customer"]["ref"], account["ref"], account["balance_minor"],
                account["status"]) == ("C-1001", "A-1001", 57_050, "overdue")  # fmt: skip
        # The ingested overdue invoice, not the one still current.
        overdue_shown = [(i["ref"], i["outstanding_minor"]) for i in panel["overdue_invoices"]]
        assert overdue_shown == [("INV-0042", 45_050)]
        assert (await desk.next("call.connected"))["data"]["agent_id"] == business.agent_id

        payments = []
        # The overdue invoice's amount, then (no amount: the balance) the rest.
        for asked, taken, balance_after in ((45_050, 45_050, 12_000), (None, 12_000, 0)):
            await world.until(lambda: world.connected_to(call) is not None, "with the agent")
            status, started = await avi.call("POST", f"/calls/{call.channel_id}/payments/card",
                                             {"account_id": account["id"],
                                              "amount_minor": asked})  # fmt: skip
            assert (status, started) == (202, {"amount_minor": taken, "currency": "ILS",
                                               "status": "started"})  # fmt: skip
            await key_card(world, call)
            result = (await desk.next("payment.result"))["data"]
            assert (result["status"], result["card_last4"], result["balance_minor"]) == (
                "succeeded", "0005", balance_after)  # fmt: skip
            payments.append(result["payment_id"])

        await call.hangup()
        assert (await desk.next("call.ended"))["data"]["call_id"] == call.channel_id
    finally:
        await desk.close()
    return payments


async def key_card(world: World, call: SimCall) -> None:
    """The caller keys the test card at each prompt played from now on (the prompts of an
    earlier payment in the call are already in what they heard)."""
    start = len(call.heard)
    for prompt, digits in (("card-number", AMEX + "#"), ("card-expiry", EXPIRY),
                           ("card-cvc", AMEX_CVC + "#")):  # fmt: skip
        await world.until(lambda p=prompt: f"sound:ledgerline-{p}" in call.heard[start:], prompt)
        await call.press(digits)


async def delivered(receiver: Receiver, secret: str, *, payments: int) -> list[dict[str, Any]]:
    """The events the receiver got, once each, each signed with the subscription's secret as
    the snippet in docs/webhooks.md verifies it; in the order received."""

    def types() -> list[str]:
        return [json.loads(r.body)["type"] for r in receiver.received]

    await receiver.wait_for(lambda: types().count("payment.succeeded") == payments
                            and "call.ended" in types(), within_s=WAIT_S)  # fmt: skip
    verify = documented_verify()
    events = []
    for received in receiver.received:
        signature = received.headers["Ledgerline-Signature"]
        assert verify(secret, signature, received.body)
        assert not verify("whsec_" + "0" * 32, signature, received.body)
        event = json.loads(received.body)
        assert event["id"] == received.event_id
        events.append(event)
    assert len({e["id"] for e in events}) == len(events) == payments + 1  # none twice
    return events


async def settled_in_billing(billing: BillingSystem, account: dict[str, Any],
                             event_ids: list[str]) -> None:  # fmt: skip
    """Ledgerline shows what it took as pending in billing until the billing system states
    the balance that includes it, acknowledging the payments' events."""
    held = await billing.get("/billing/accounts/A-1001")
    assert (held["balance"], held["reported_balance"], held["pending_in_billing"]) == (
        0, 57_050, -57_050)  # signed as the entries: taken off the balance  # fmt: skip
    stated = {**account, "status": "active", "balance": 0, "acknowledged_events": event_ids,
              "version": 2}  # fmt: skip
    assert await billing.put("/billing/accounts/A-1001", stated, "account-A-1001-v2") == "updated"
    held = await billing.get("/billing/accounts/A-1001")
    assert (held["balance"], held["reported_balance"], held["pending_in_billing"]) == (0, 0, 0)


def _day(today: date, days: int) -> str:
    return (today + timedelta(days=days)).isoformat()
