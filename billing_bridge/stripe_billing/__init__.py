"""Stripe Billing as a business's billing system: its customers and invoices pulled by
`ledgerline sync stripe-billing` and kept current by Stripe's `customer.*` and `invoice.*`
events; a card payment for a Stripe invoice pays that invoice at Stripe
(docs/stripe-billing.md)."""
