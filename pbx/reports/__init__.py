"""Historical reports of a business (`docs/reports.md`): its queues and agents from the call
log summed per quarter hour (`store.py`, the tables `report_queue_intervals` and
`report_agent_intervals`), and the money it collected from its ledger (`money.py`)."""
