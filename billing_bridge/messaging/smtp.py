"""Email over SMTP (the standard library's client in a worker thread: one connection a
message, which is what an outbox pass needs). TLS from the first byte (`tls`, port 465) or
upgraded with STARTTLS (`starttls`, port 587); `none` only for a relay on this machine.

A refused recipient, a refused sign-in or a dropped connection raises `SmtpError` naming
what failed, never the password or the message: the outbox keeps the message for a retry."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal

from pbx.free_text import mask_card_numbers

Security = Literal["tls", "starttls", "none"]


class SmtpError(Exception):
    """The server refused the message or could not be reached."""


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    from_address: str
    security: Security = "starttls"
    username: str = ""
    password: str = ""
    timeout_seconds: float = 20.0


def message(options: SmtpOptions, recipient: str, subject: str, body: str) -> EmailMessage:
    """The email as sent: plain UTF-8 text (Hebrew and Lithuanian as they are); card numbers
    masked as a last guard (no message carries one)."""
    mail = EmailMessage()
    mail["From"], mail["To"] = options.from_address, recipient
    mail["Subject"] = mask_card_numbers(subject)
    mail["Message-ID"] = make_msgid(domain=options.from_address.rpartition("@")[2] or None)
    mail.set_content(mask_card_numbers(body))
    return mail


class SmtpSender:
    def __init__(self, options: SmtpOptions) -> None:
        self.options = options

    async def send(self, channel: str, recipient: str, subject: str, body: str) -> None:
        if channel != "email":
            raise SmtpError(f"SMTP sends email, not {channel}")
        mail = message(self.options, recipient, subject, body)
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: EmailMessage) -> None:
        o = self.options
        context = ssl.create_default_context()
        try:
            if o.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout_seconds,
                                                        context=context)  # fmt: skip
            else:
                client = smtplib.SMTP(o.host, o.port, timeout=o.timeout_seconds)
            with client:
                if o.security == "starttls":
                    client.starttls(context=context)
                if o.username:
                    client.login(o.username, o.password)
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SmtpError(f"recipient refused ({_codes(exc.recipients)})") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpError(f"sign-in refused ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            raise SmtpError(f"refused: {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpError(f"{type(exc).__name__} talking to {o.host}:{o.port}") from None
        if refused:
            raise SmtpError(f"recipient refused ({_codes(refused)})")


def _codes(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(str(code) for code, _ in refused.values())
