"""One `MessageSender` for the deployment: each channel to its own sender, the outbox-only
default for a channel none is configured for."""

from __future__ import annotations

from collections.abc import Mapping

from billing_bridge.payments.pay_links import MessageSender, OutboxOnlySender


class ByChannel:
    def __init__(self, senders: Mapping[str, MessageSender]) -> None:
        self._senders = dict(senders)
        self._default = OutboxOnlySender()

    async def send(self, channel: str, recipient: str, subject: str, body: str) -> None:
        sender = self._senders.get(channel, self._default)
        await sender.send(channel, recipient, subject, body)

    async def close(self) -> None:
        """Closes the senders that hold connections (the SMS gateway's HTTP session)."""
        for sender in self._senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()
