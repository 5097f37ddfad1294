"""What Ledgerline tells the business's billing system: events written in the transaction
of the change (`outbox`), their objects (`objects`), the call made at each change
(`changes`) and the feed the billing system reads and acknowledges (`feed`)."""

from billing_bridge.events.outbox import API_VERSION, EVENT_TYPES, emit, envelope

__all__ = ["API_VERSION", "EVENT_TYPES", "emit", "envelope"]
