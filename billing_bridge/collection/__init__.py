"""Recurring collection: due invoices charged from active mandates and cards on file.

`rules` decides (pure), `store` reads and writes batches, `job` runs the provider calls and
`report` says what happened. A card on file is a `Mandate` with scheme "card": the provider
port collects both through `charge_mandate`.
"""
