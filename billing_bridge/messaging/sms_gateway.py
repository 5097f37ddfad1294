"""SMS through an HTTP gateway: a small typed codec for its requests and answers, the sender,
and the gateway's inbound messages (a customer's STOP reply).

The wire (JSON over HTTPS, the gateway's token as a bearer):

    POST {url}                     {"to": "+972501234567", "from": "Ledgerline", "text": "..."}
    200/201/202                    {"id": "msg-1", "status": "queued"}      (or "sent")
    4xx/5xx                        {"error": {"code": "invalid_number", "message": "..."}}

    inbound, POST /api/v1/sms/inbound (the gateway's own token as a bearer)
                                   {"id": "in-1", "from": "+972501234567", "to": "...",
                                    "text": "STOP"}

Every field is read for its type and size; an answer that is not this shape is
`SmsGatewayMalformed`, a refusal `SmsGatewayRefused` (with the gateway's code), a network
failure `SmsGatewayUnavailable`: all `SmsGatewayError`, so the outbox keeps the message."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from pbx.free_text import mask_card_numbers

MAX_TEXT = 1600  # ten SMS parts at most
MAX_ANSWER = 64 * 1024
MAX_INBOUND = 16 * 1024
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "הסר",
                         "stop.", "atsisakyti"})  # fmt: skip


class SmsGatewayError(Exception):
    """Sending failed; the message stays in the outbox."""


class SmsGatewayUnavailable(SmsGatewayError):
    """No answer (connection refused, timed out, reset)."""


class SmsGatewayRefused(SmsGatewayError):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"gateway refused the message: {status} {code}")
        self.status, self.code = status, code


class SmsGatewayMalformed(SmsGatewayError):
    """An answer (or an inbound message) that is not the gateway's shape: names the field."""


@dataclass(frozen=True, slots=True)
class SmsRequest:
    to: str
    sender: str
    text: str

    def encode(self) -> bytes:
        if not _E164.fullmatch(self.to):
            raise SmsGatewayMalformed("to: expected an E.164 number")
        if not 1 <= len(self.text) <= MAX_TEXT:
            raise SmsGatewayMalformed(f"text: 1 to {MAX_TEXT} characters")
        return json.dumps({"to": self.to, "from": self.sender,
                           "text": mask_card_numbers(self.text)},
                          ensure_ascii=False).encode()  # fmt: skip


@dataclass(frozen=True, slots=True)
class SmsAccepted:
    id: str
    status: str  # queued, sent


@dataclass(frozen=True, slots=True)
class InboundSms:
    id: str
    sender: str  # the customer's number (E.164)
    to: str
    text: str

    @property
    def is_stop(self) -> bool:
        """A reply that asks for no more messages (STOP and its usual spellings)."""
        return self.text.strip().lower() in _STOP_WORDS


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SmsGatewayMalformed(f"{what}: not JSON") from None
    if not isinstance(value, dict):
        raise SmsGatewayMalformed(f"{what}: expected a JSON object")
    return value


def _text(obj: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None,
          limit: int = 200) -> str:  # fmt: skip
    value = obj.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise SmsGatewayMalformed(f"{name}: expected a string of 1 to {limit} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise SmsGatewayMalformed(f"{name}: not in the expected form")
    return value


def decode_accepted(raw: bytes) -> SmsAccepted:
    body = _json_object(raw, "answer")
    status = _text(body, "status", limit=16)
    if status not in ("queued", "sent"):
        raise SmsGatewayMalformed("status: expected queued or sent")
    return SmsAccepted(_text(body, "id", _ID), status)


def decode_refusal(status: int, raw: bytes) -> SmsGatewayRefused:
    try:
        error = _json_object(raw, "answer").get("error")
        code = error.get("code") if isinstance(error, dict) else None
    except SmsGatewayMalformed:
        code = None
    ok = isinstance(code, str) and re.fullmatch(r"[a-z0-9_.-]{1,64}", code)
    return SmsGatewayRefused(status, code if ok else "unknown")  # type: ignore[arg-type]


def decode_inbound(raw: bytes) -> InboundSms:
    if len(raw) > MAX_INBOUND:
        raise SmsGatewayMalformed(f"body: at most {MAX_INBOUND} bytes")
    body = _json_object(raw, "body")
    return InboundSms(_text(body, "id", _ID), _text(body, "from", _E164, 16),
                      _text(body, "to", limit=32), _text(body, "text", limit=MAX_TEXT))  # fmt: skip


@dataclass(frozen=True)
class SmsGatewayOptions:
    url: str
    token: str
    sender: str = "Ledgerline"
    timeout_seconds: float = 10.0


class SmsGatewaySender:
    """A `MessageSender` for SMS. One HTTP session, opened on first use, closed by `close`."""

    def __init__(self, options: SmsGatewayOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    async def send(self, channel: str, recipient: str, subject: str, body: str) -> None:
        if channel != "sms":
            raise SmsGatewayError(f"the SMS gateway sends sms, not {channel}")
        await self.submit(SmsRequest(recipient, self.options.sender, body))

    async def submit(self, request: SmsRequest) -> SmsAccepted:
        """One message to the gateway; its answer, or an `SmsGatewayError`."""
        payload = request.encode()
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.options.timeout_seconds))
        headers = {"Authorization": f"Bearer {self.options.token}",
                   "Content-Type": "application/json"}  # fmt: skip
        try:
            async with self._session.post(self.options.url, data=payload,
                                          headers=headers) as response:  # fmt: skip
                raw = await response.content.read(MAX_ANSWER + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsGatewayUnavailable(f"{type(exc).__name__} reaching the gateway") from None
        if len(raw) > MAX_ANSWER:
            raise SmsGatewayMalformed(f"answer: over {MAX_ANSWER} bytes")
        if status not in (200, 201, 202):
            raise decode_refusal(status, raw)
        return decode_accepted(raw)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
