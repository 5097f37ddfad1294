"""The door in: the billing system's customers, accounts, invoices, external payments and
balance adjustments, taken in by their own references, in order of their versions."""
