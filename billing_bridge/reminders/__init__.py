"""Reminders (dunning): a business's schedule by days overdue, planned each day in SQL,
sent by email or SMS through the outbox with a pay link and an opt-out link, stopped the
moment the account is paid, promised, planned, disputed or the customer opts out.
See docs/reminders.md."""
