"""The agi-bin scripts' side of the composition root: what a script Asterisk starts per call
(`AGI(caller_lookup.py[,DID])`) is built from. Configuration comes from LEDGERLINE_CONFIG (a
TOML file) and LEDGERLINE_* variables, as for `ledgerline serve`; the protocol is spoken by
`agi_scripts.caller_lookup`, which is handed the identification service and builds nothing.
The file installed into agi-bin is `asterisk-conf/agi-bin/caller_lookup.py`, which only
calls `caller_lookup()`."""

from __future__ import annotations

import os

from agi_scripts import caller_lookup as script
from billing_bridge.identification.model import Identification
from pbx.bootstrap import build_services
from pbx.settings import load_settings

ONE_CONNECTION = "LEDGERLINE_DATABASE_POOL_SIZE"


async def identify(caller_id: str, dialed: str, presentation: str) -> Identification:
    """One caller identified by a service built for it: settings, its database and cache."""
    # One lookup: one connection to each pool, not a pool's worth opened for every call.
    services = build_services(load_settings(environ={**os.environ, ONE_CONNECTION: "1"}))
    try:
        return await services.identification.identify(caller_id, dialed, presentation)
    finally:
        await services.close()


def caller_lookup() -> int:
    """The agi-bin caller lookup, serving one call on stdin and stdout."""
    return script.main(identify)
