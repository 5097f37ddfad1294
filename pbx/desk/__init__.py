"""The agent's desk: typed commands (`commands`), their handlers in one table (`handlers`),
domain errors (`errors`), the ports to the live calls and the ledger (`ports`), a desk
here (`local`) or forwarded to the process that owns the calls (`remote`, over `wire`)."""
