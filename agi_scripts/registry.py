"""The FastAGI scripts Ledgerline serves, by the name in `agi://HOST:PORT/NAME`.

Names are normalised by the server, so `caller_lookup` and `caller-lookup` are one script.
"""

from __future__ import annotations

from agi_scripts.fastagi.server import Handler
from agi_scripts.handlers.caller_lookup import caller_lookup
from pbx.bootstrap import Services


def build_handlers(services: Services) -> dict[str, Handler]:
    return {
        "caller-lookup": caller_lookup(services.identification),
    }
