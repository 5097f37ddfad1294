"""The senders against local servers that speak as the real ones do: email to an SMTP server
on a socket (a small asyncio one: EHLO, MAIL, RCPT, DATA), SMS to an HTTP gateway (aiohttp)
that checks the bearer token and the body; refusals, garbage and silence become the sender's
typed errors, which leave the message in the outbox."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from billing_bridge.messaging.routing import ByChannel
from billing_bridge.messaging.sms_gateway import (
    SmsGatewayMalformed,
    SmsGatewayOptions,
    SmsGatewayRefused,
    SmsGatewaySender,
    SmsGatewayUnavailable,
    SmsRequest,
    decode_inbound,
)
from billing_bridge.messaging.smtp import SmtpError, SmtpOptions, SmtpSender

MAX_LINE = 1000


@dataclass
class SmtpServer:
    refuse: set[str] = field(default_factory=set)
    received: list[tuple[str, list[str], email.message.EmailMessage]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        sender, recipients = "", []
        await say("220 localhost ESMTP test")
        try:
            while line := (await reader.readline())[:MAX_LINE].decode().rstrip("\r\n"):
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    await say("250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8")
                elif verb == "MAIL":
                    sender, recipients = line.split(":", 1)[1].split()[0].strip("<>"), []
                    await say("250 ok")
                elif verb == "RCPT":
                    to = line.split(":", 1)[1].strip().strip("<>")
                    if to in self.refuse:
                        await say("550 no such user")
                    else:
                        recipients.append(to)
                        await say("250 ok")
                elif verb == "DATA":
                    await say("354 go on")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    message = email.message_from_bytes(data[:-5], policy=email.policy.default)
                    self.received.append((sender, recipients, message))  # type: ignore[arg-type]
                    await say("250 queued")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 not here")
        finally:
            writer.close()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield server


def _options(port: int) -> SmtpOptions:
    return SmtpOptions("127.0.0.1", port, "reminders@vilnius.example", security="none",
                       timeout_seconds=5)  # fmt: skip


async def test_an_email_reaches_the_smtp_server_whole_in_utf8(smtp: SmtpServer) -> None:
    sender = SmtpSender(_options(smtp.port))
    await sender.send("email", "dana@example.com", "Vilnius: התשלום באיחור",
                      "Mokėti: https://pay.example/x\nNebegauti: https://o.example/y")  # fmt: skip
    [(mail_from, to, message)] = smtp.received
    assert (mail_from, to) == ("reminders@vilnius.example", ["dana@example.com"])
    assert message["Subject"] == "Vilnius: התשלום באיחור"
    assert message.get_content().strip().splitlines() == [
        "Mokėti: https://pay.example/x", "Nebegauti: https://o.example/y"]


async def test_a_refused_recipient_is_an_smtp_error_naming_the_code(smtp: SmtpServer) -> None:
    smtp.refuse.add("gone@example.com")
    with pytest.raises(SmtpError, match="recipient refused \\(550\\)"):
        await SmtpSender(_options(smtp.port)).send("email", "gone@example.com", "s", "b")
    assert smtp.received == []


async def test_no_smtp_server_is_an_smtp_error_not_a_hang() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    with pytest.raises(SmtpError, match=r"talking to 127\.0\.0\.1"):
        await SmtpSender(_options(port)).send("email", "dana@example.com", "s", "b")


async def test_a_card_number_never_leaves_in_an_email(smtp: SmtpServer) -> None:
    await SmtpSender(_options(smtp.port)).send("email", "dana@example.com", "s",
                                               "card 4242 4242 4242 4242 here")  # fmt: skip
    [(_, _, message)] = smtp.received
    assert "4242 4242 4242 4242" not in message.get_content()


@dataclass
class Gateway:
    token: str = "gw-token-123"
    answer: tuple[int, Any] = (202, {"id": "msg-1", "status": "queued"})
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": {"code": "unauthorized"}}, status=401)
        if request.content_type != "application/json":
            return web.json_response({"error": {"code": "bad_type"}}, status=415)
        self.received.append(await request.json())
        status, body = self.answer
        if isinstance(body, bytes):
            return web.Response(status=status, body=body)
        return web.json_response(body, status=status)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    made = Gateway()
    app = web.Application()
    app.router.add_post("/v1/messages", made.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    made.url = f"http://127.0.0.1:{port}/v1/messages"
    try:
        yield made
    finally:
        await runner.cleanup()


def _sms(gateway: Gateway, token: str | None = None) -> SmsGatewaySender:
    return SmsGatewaySender(SmsGatewayOptions(gateway.url, token or gateway.token, "Vilnius",
                                              timeout_seconds=5))  # fmt: skip


async def test_an_sms_goes_to_the_gateway_with_its_token(gateway: Gateway) -> None:
    sender = _sms(gateway)
    accepted = await sender.submit(SmsRequest("+37060000001", "Vilnius",
                                              "Vilnius: 100.01 EUR vėluoja"))
    await sender.close()
    assert (accepted.id, accepted.status) == ("msg-1", "queued")
    assert gateway.received == [{"to": "+37060000001", "from": "Vilnius",
                                 "text": "Vilnius: 100.01 EUR vėluoja"}]


async def test_a_wrong_token_is_a_refusal_with_the_gateways_code(gateway: Gateway) -> None:
    sender = _sms(gateway, token="stolen")
    with pytest.raises(SmsGatewayRefused) as refused:
        await sender.send("sms", "+37060000001", "", "text")
    await sender.close()
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


@pytest.mark.parametrize("answer", [
    (200, b"<html>ok</html>"), (200, {"id": "msg 1", "status": "queued"}),
    (200, {"id": "msg-1", "status": "delivered-maybe"}), (200, [1, 2]),
], ids=["html", "bad-id", "bad-status", "array"])  # fmt: skip
async def test_an_answer_not_in_the_gateways_shape_is_malformed(
    gateway: Gateway, answer: tuple[int, Any]
) -> None:
    gateway.answer = answer
    sender = _sms(gateway)
    with pytest.raises(SmsGatewayMalformed):
        await sender.send("sms", "+37060000001", "", "text")
    await sender.close()


async def test_a_gateway_that_is_down_is_unavailable() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    sender = SmsGatewaySender(SmsGatewayOptions(f"http://127.0.0.1:{port}/", "t"))
    with pytest.raises(SmsGatewayUnavailable):
        await sender.send("sms", "+37060000001", "", "text")
    await sender.close()


async def test_a_number_not_in_e164_is_refused_before_sending(gateway: Gateway) -> None:
    with pytest.raises(SmsGatewayMalformed, match="to"):
        await _sms(gateway).send("sms", "060000001", "", "text")
    assert gateway.received == []


async def test_each_channel_goes_to_its_sender(smtp: SmtpServer, gateway: Gateway) -> None:
    sms = _sms(gateway)
    router = ByChannel({"email": SmtpSender(_options(smtp.port)), "sms": sms})
    await router.send("email", "dana@example.com", "s", "b")
    await router.send("sms", "+37060000001", "", "b")
    await sms.close()
    assert (len(smtp.received), len(gateway.received)) == (1, 1)


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", json.dumps({"id": "in-1", "from": "37060000001", "to": "x",
                                    "text": "STOP"}).encode(),
    json.dumps({"id": "in-1", "from": "+37060000001", "to": "x", "text": 5}).encode(),
    json.dumps({"id": "in-1", "from": "+37060000001", "to": "x"}).encode(),
    b"{" + b" " * 20_000 + b"}",
], ids=["text", "array", "not-e164", "text-not-string", "no-text", "too-big"])  # fmt: skip
def test_an_inbound_message_not_in_the_gateways_shape_is_refused(raw: bytes) -> None:
    with pytest.raises(SmsGatewayMalformed):
        decode_inbound(raw)


@pytest.mark.parametrize(("text", "stop"), [("STOP", True), (" stop ", True),
                                            ("Unsubscribe", True), ("stop it now", False),
                                            ("thanks", False)])  # fmt: skip
def test_stop_and_its_usual_spellings_ask_for_no_more(text: str, stop: bool) -> None:
    raw = json.dumps({"id": "in-1", "from": "+37060000001", "to": "Vilnius", "text": text})
    assert decode_inbound(raw.encode()).is_stop is stop
