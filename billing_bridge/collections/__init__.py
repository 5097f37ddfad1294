"""Collections: promises to pay and payment plans, and how the payments that arrive keep or
break them (docs/collections.md).

`rules` is pure (caps, instalment amounts and dates, when a date has passed); `promises` and
`plans` make and cancel them in the caller's transaction; `settlement.payment_arrived` is
called by every payment path in the transaction of the payment's ledger entry; `sweep`
breaks what was not paid by the end of its date in the business's time zone. Every change is
audited and emitted as a billing event (`events`) in its own transaction.
"""
