"""A simulated Asterisk 22 ARI server (REST + events WebSocket) with scripted callers and
agents, for tests, benchmarks and `ledgerline demo`. See `simulator.AsteriskSimulator`."""

from pbx.simulator.ari.dialplan import LEDGERLINE_DIALPLAN, Dialplan, Step
from pbx.simulator.ari.scripts import Agent, Call, Timing
from pbx.simulator.ari.simulator import AriRequest, AsteriskSimulator

__all__ = [
    "LEDGERLINE_DIALPLAN",
    "Agent",
    "AriRequest",
    "AsteriskSimulator",
    "Call",
    "Dialplan",
    "Step",
    "Timing",
]
