"""Desk events (screen-pops, call and agent changes) for agents' browsers: a bounded,
replayable log per tenant, and the per-process hub that fans it out to WebSockets."""
