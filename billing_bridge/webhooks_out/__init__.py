"""The door out: a business's events delivered to its webhook subscriptions.

`subscriptions.py` (who receives what, managed by admins), `urls.py` (which receivers are
allowed), `signing.py` (the `Ledgerline-Signature` header), `schedule.py` (pure: retries and
giving up), `sender.py` (one signed POST), `store.py` (claims and outcomes in the database),
`worker.py` (the loop every serving process runs) and `log.py` (the delivery log and manual
redelivery). Deliveries are written by `billing_bridge.events.emit` in the change's own
transaction; this package only reads and settles them.
"""
